//! Hoisting: the parts of the step that do not depend on the state, computed
//! for all B x T steps at once before the recurrence.
//!
//! A node is hoisted when it does not depend on any state, contains a
//! matrix-vector product (an input projection `W @ x`, with whatever
//! state-independent work surrounds it, such as the bias in `W @ x + b` or a gate
//! `sigmoid(W @ x + b)`), and is maximal: it is a result of the step, or some
//! state-dependent node uses it. Lowering groups the state-independent terms of
//! every sum first, so `a * h + W @ x + b` exposes `W @ x + b` as one node.

use crate::arena::Handle;
use crate::ir::{Ir, Node, Op};

/// The state-independent values worth computing before the recurrence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hoisting {
    /// The hoisted nodes, in graph order (each a step node).
    pub nodes: Vec<Handle<Node>>,
    /// For each step node, whether it depends on a state's previous value.
    pub state_dependent: Vec<bool>,
}

/// Finds the nodes of the step `ir` to hoist.
pub fn hoisting(ir: &Ir) -> Hoisting {
    let len = ir.step_len.min(ir.graph.len());
    let mut state_dependent = vec![false; len];
    let mut has_product = vec![false; len];
    let mut used_by_dependent = vec![false; len];
    for (handle, node) in ir.graph.iter().take(len) {
        let i = handle.index();
        state_dependent[i] = matches!(node.op, Op::State(_)) || node.op.operands().any(|o| state_dependent[o.index()]);
        has_product[i] = matches!(node.op, Op::MatVec(..)) || node.op.operands().any(|o| has_product[o.index()]);
        if state_dependent[i] {
            for operand in node.op.operands() {
                used_by_dependent[operand.index()] = true;
            }
        }
    }
    let mut is_root = vec![false; len];
    for root in ir.roots().filter(|r| r.index() < len) {
        is_root[root.index()] = true;
    }
    let nodes = (0..len)
        .filter(|&i| !state_dependent[i] && has_product[i] && (used_by_dependent[i] || is_root[i]))
        .map(Handle::from_index)
        .collect();
    Hoisting { nodes, state_dependent }
}
