//! Input projections: the state-independent products `W @ x` of a matrix
//! parameter and an input, which every back end computes for all B x T steps as
//! matrix products before the recurrence (the recurrence then reads their
//! results), and whose cotangents the backward pass turns into `dW` and `dx` by
//! matrix products. Found once here, typed by the parameter's shape, and read by
//! the adjoint, both back ends and the runtimes.

use crate::arena::Handle;
use crate::check::{Cell, Input, Param, ParamShape};
use crate::ir::{Graph, Node, Op};

/// How a projection's matrix is stored, which decides the product that
/// computes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProjectionKind {
    /// A dense `[rows, cols]` matrix: one matrix product over every step.
    Dense,
    /// A `block[H, K]` matrix (`[H/K, K, K]`, the input of length `H`): a grouped
    /// product, block `g` multiplying channels `g K .. g K + K` of the input.
    Block {
        /// `K`.
        block: u64,
    },
}

/// One input projection `W @ x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Projection {
    /// The product node (a step node).
    pub node: Handle<Node>,
    /// The matrix `W`.
    pub param: Handle<Param>,
    /// The input `x`.
    pub input: Handle<Input>,
    /// How `W` is stored.
    pub kind: ProjectionKind,
}

/// Every projection of the step (nodes `[0, step_len)` of `graph`), in graph
/// order; `state_dependent` is indexed by step node.
pub fn projections(cell: &Cell, graph: &Graph, step_len: usize, state_dependent: &[bool]) -> Vec<Projection> {
    state_free_products(cell, graph, step_len, state_dependent)
        .filter_map(|(node, param, operand, kind)| {
            let Op::Input(input) = graph.node(operand).op else { return None };
            Some(Projection { node, param, input, kind })
        })
        .collect()
}

/// Every product of a matrix parameter and a state-free vector among the step's
/// nodes, in graph order, as (node, matrix, operand, kind): the one rule that
/// input projections and staged products (`analyse::staged`) split between them.
pub(crate) fn state_free_products<'a>(
    cell: &'a Cell,
    graph: &'a Graph,
    step_len: usize,
    state_dependent: &'a [bool],
) -> impl Iterator<Item = (Handle<Node>, Handle<Param>, Handle<Node>, ProjectionKind)> + 'a {
    graph
        .iter()
        .take(step_len)
        .filter(|(node, _)| !state_dependent.get(node.index()).copied().unwrap_or(true))
        .filter_map(|(node, value)| {
            let Op::MatVec(param, operand) = value.op else { return None };
            let kind = match cell.params[param].shape {
                ParamShape::Matrix { .. } => ProjectionKind::Dense,
                ParamShape::Block { block, .. } => ProjectionKind::Block { block },
                ParamShape::Vector(_) => return None,
            };
            Some((node, param, operand, kind))
        })
}
