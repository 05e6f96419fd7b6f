//! The cost model: an estimate of the work of evaluating one e-node once per
//! element. The step's values are free (they are computed anyway), so are
//! constants; arithmetic, steps and signs cost 2, division and square root 8,
//! the other transcendental functions and powers 16.

use super::language::{Term, TermOp};
use crate::ir::{BinaryOp, Op, UnaryOp};

/// The cost of the operation of `term` alone (not counting its operands).
pub(crate) fn own_cost(term: &Term) -> u64 {
    op_cost(term.op())
}

/// The cost of IR operation `op` alone, as the e-graph would count it.
pub(crate) fn node_cost(op: &Op) -> u64 {
    op_cost(TermOp::of(op))
}

fn op_cost(op: Option<TermOp>) -> u64 {
    match op {
        None => 0,
        Some(TermOp::Unary(UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Relu)) => 2,
        Some(TermOp::Unary(UnaryOp::Sqrt) | TermOp::Binary(BinaryOp::Div)) => 8,
        Some(TermOp::Unary(_) | TermOp::Binary(BinaryOp::Pow)) => 16,
        Some(TermOp::Binary(_) | TermOp::Step | TermOp::Sign) => 2,
    }
}
