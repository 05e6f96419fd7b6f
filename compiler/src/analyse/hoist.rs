//! Hoisting: the parts of the step that do not depend on the state, computed
//! for all B x T steps at once before the recurrence.
//!
//! One rule, [`frontier`], decides what is hoisted for any computation: walking
//! down from what it computes, it stops at every node that depends on no state
//! (nor on a caller's seed) and either contains a matrix-vector product (an
//! input projection `W @ x`, with whatever state-independent work surrounds it,
//! such as the bias in `W @ x + b` or a gate `sigmoid(W @ x + b)`) or is an
//! input. Those nodes are what the recurrence reads per step. Lowering groups the
//! state-independent terms of every sum first, so `a * h + W @ x + b` exposes
//! `W @ x + b` as one node. [`hoisting`] applies the rule to the step's results;
//! the kernel plan (`crate::plan`) applies it to everything the recurrence
//! kernels evaluate (the step's results and its state Jacobian).

use crate::arena::Handle;
use crate::ir::{Graph, Ir, Node, Op};

/// The state-independent values worth computing before the recurrence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hoisting {
    /// The hoisted nodes that hold a product, in graph order (each a step node).
    pub nodes: Vec<Handle<Node>>,
    /// For each step node, whether it depends on a state's previous value.
    pub state_dependent: Vec<bool>,
}

/// What [`frontier`] knows of each node of a graph.
#[derive(Clone, Debug)]
pub struct Dependence {
    /// Whether the node depends on a state's previous value or on a seed.
    pub varying: Vec<bool>,
    /// Whether the node contains a matrix-vector product.
    pub product: Vec<bool>,
}

impl Dependence {
    /// The dependence of every node of `graph`, in one pass (operands first).
    pub fn of(graph: &Graph) -> Dependence {
        let mut varying = vec![false; graph.len()];
        let mut product = vec![false; graph.len()];
        for (handle, node) in graph.iter() {
            let i = handle.index();
            varying[i] =
                matches!(node.op, Op::State(_) | Op::Seed(_)) || node.op.operands().any(|o| varying[o.index()]);
            product[i] =
                matches!(node.op, Op::MatVec(..) | Op::MatVecT(..)) || node.op.operands().any(|o| product[o.index()]);
        }
        Dependence { varying, product }
    }

    /// Whether `node` is read from the hoisted values rather than computed by
    /// the recurrence.
    pub fn hoisted(&self, graph: &Graph, node: Handle<Node>) -> bool {
        let i = node.index();
        !self.varying[i] && (self.product[i] || matches!(graph.node(node).op, Op::Input(_)))
    }
}

/// The hoisted values a computation of `roots` reads, in graph order: see the
/// [module documentation](self).
pub fn frontier(
    graph: &Graph,
    dependence: &Dependence,
    roots: impl IntoIterator<Item = Handle<Node>>,
) -> Vec<Handle<Node>> {
    let mut stack: Vec<Handle<Node>> = roots.into_iter().collect();
    let mut seen = vec![false; graph.len()];
    let mut hoisted = Vec::new();
    while let Some(node) = stack.pop() {
        if std::mem::replace(&mut seen[node.index()], true) {
            continue;
        }
        if dependence.hoisted(graph, node) {
            hoisted.push(node);
        } else {
            stack.extend(graph.node(node).op.operands());
        }
    }
    hoisted.sort();
    hoisted
}

/// The step's hoisting: [`frontier`] of its results, without the inputs.
pub fn hoisting(ir: &Ir) -> Hoisting {
    let len = ir.step_len.min(ir.graph.len());
    let dependence = Dependence::of(&ir.graph);
    let nodes = frontier(&ir.graph, &dependence, ir.roots().filter(|r| r.index() < len))
        .into_iter()
        .filter(|&node| !matches!(ir.graph.node(node).op, Op::Input(_)))
        .collect();
    Hoisting { nodes, state_dependent: dependence.varying[..len].to_vec() }
}
