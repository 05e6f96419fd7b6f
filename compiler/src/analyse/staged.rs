//! Staged products: the state-independent products `W @ v` of a matrix
//! parameter and a *computed* vector `v` (an MLP on the input, `W2 @ tanh(W1 @
//! x + b1)`, or a block matrix times a gate of the input). Like projections
//! they depend on no state, so a back end may compute them for all B x T steps
//! before the recurrence: `v` by an elementwise pass over the values beneath
//! it, then the product as a matrix product (the kernel plan's stages).
//! Found once here, typed by the parameter's shape.

use super::projections::ProjectionKind;
use crate::arena::Handle;
use crate::check::{Cell, Param};
use crate::ir::{Graph, Node, Op};

/// One staged product `W @ v` of a computed state-free vector `v`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StagedProduct {
    /// The product node (a step node).
    pub node: Handle<Node>,
    /// The matrix `W`.
    pub param: Handle<Param>,
    /// The computed vector `v` (not an input).
    pub operand: Handle<Node>,
    /// How `W` is stored.
    pub kind: ProjectionKind,
}

/// Every staged product of the step (nodes `[0, step_len)` of `graph`), in
/// graph order (so a product's operand never reads a later one);
/// `state_dependent` is indexed by step node.
pub fn staged_products(cell: &Cell, graph: &Graph, step_len: usize, state_dependent: &[bool]) -> Vec<StagedProduct> {
    super::projections::state_free_products(cell, graph, step_len, state_dependent)
        .filter(|&(_, _, operand, _)| !matches!(graph.node(operand).op, Op::Input(_)))
        .map(|(node, param, operand, kind)| StagedProduct { node, param, operand, kind })
        .collect()
}
