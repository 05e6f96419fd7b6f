//! Lanes of whole rows ([`LaneMode::Rows`](super::LaneMode::Rows)): how a cell
//! whose states are matrices `[R, C]` (or vectors `[R]`) and whose step keeps
//! every row to itself runs in independent lanes, one row of every state each.
//!
//! A value laid along the states' rows (its size `[R]` or `[R, C]`, `R` the
//! states' rows) is *windowed*: a lane holds its own rows. Every other value
//! (`[C]`, a scalar) is *replicated*: every lane holds it whole, and computes it
//! alike. Mamba's `h: [D, N]`, `dt: [D]` and `y: [D]` are windowed, its `B` and
//! `C` (`[N]`) replicated. The step has a lane form when no windowed value is
//! read across rows: a row spread or a row fold keeps rows apart, a column
//! spread reads a replicated vector in every row; a column fold, reduction,
//! slice or padding of a windowed value, a replicated value computed from a
//! windowed one, and a matrix product inside the step do not. Outputs must be
//! windowed (a lane stores its rows).
//!
//! In the backward, a replicated value's cotangent in a lane is that lane's
//! share (a column fold of its rows): the shares are summed over the lanes,
//! for a projection by `replicated_sums` (`adjoint.rs`), for a parameter by
//! the gather of the accumulators.

use crate::Derived;
use crate::arena::Handle;
use crate::check::{Along, Side, Size};
use crate::ir::{Node, Op};
use crate::plan::CellPlan;

/// The side a value of `size` is laid along first: its rows (a vector's
/// length is its rows).
pub fn leading_side(size: Size) -> Option<Side> {
    match size {
        Size::Matrix(rows, _) => Some(rows),
        other => Side::of(other),
    }
}

/// The states' rows, when the step has a lane form in lanes of whole rows:
/// every state laid along the same rows, every step node keeping rows apart
/// (see the module's comment), every output windowed.
pub fn side(derived: &Derived, cell_plan: &CellPlan) -> Option<Side> {
    let mut sides = derived.cell.states.iter().map(|(_, state)| leading_side(state.size));
    let side = sides.next().flatten()?;
    if sides.any(|s| s != Some(side)) {
        return None;
    }
    let windowed = |size: Option<Size>| size.and_then(leading_side) == Some(side);
    let graph = &derived.ir.graph;
    let within_rows = |(handle, node): (Handle<Node>, &Node)| {
        let result = windowed(node.size());
        let read = node.op.operands().any(|a| windowed(graph.node(a).size()));
        match node.op {
            Op::Spread(a, Along::Cols) => !windowed(graph.node(a).size()),
            Op::Spread(_, Along::Rows) | Op::Fold(_, Along::Rows) => true,
            Op::Fold(..) | Op::Reduce(..) | Op::FirstMax(_) | Op::Slice(..) | Op::Pad(..) => !read && !result,
            Op::MatVec(..) | Op::MatVecT(..) => super::plan::is_raw(derived, cell_plan, handle),
            _ => result || !read,
        }
    };
    let step_within_rows = graph.iter().take(derived.ir.step_len).all(within_rows);
    let outputs_windowed = derived.ir.outputs.iter().all(|&root| windowed(graph.node(root).size()));
    (step_within_rows && outputs_windowed).then_some(side)
}
