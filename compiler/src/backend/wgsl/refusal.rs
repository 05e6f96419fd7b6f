//! What the wgsl back end cannot compile, as errors at the place in the
//! source that asks for it: the product that uses a parameter, the
//! parameter's declaration when no product is written there, the expression
//! that makes the state one lane, or the cell.

use crate::Derived;
use crate::analyse::Dependence;
use crate::arena::Handle;
use crate::check::{Param, ParamShape};
use crate::error::{Error, ErrorKind};
use crate::ir::{Node, Op};
use crate::span::Span;

/// The error kind of every refusal (the runtime's too: `fixed_buffers_fit`).
pub fn kind(derived: &Derived, reason: String) -> ErrorKind {
    ErrorKind::BackendUnsupported { backend: "wgsl", cell: derived.cell.name.clone(), reason }
}

/// A refusal of the whole cell.
pub(super) fn of_cell(derived: &Derived, reason: String) -> Error {
    Error::new(kind(derived, reason), derived.cell.span, "this cell")
}

/// A refusal about parameter `param`: at the first of `products` (its uses)
/// that is written in the source, else at the parameter's declaration.
pub(super) fn of_param(
    derived: &Derived,
    param: Handle<Param>,
    products: impl IntoIterator<Item = Handle<Node>>,
    reason: String,
) -> Error {
    let declared = derived.cell.params[param].span;
    match products.into_iter().find_map(|node| derived.ir.span(node)) {
        Some(span) => Error::new(kind(derived, reason), span, "this product")
            .with_related(declared, "the parameter is declared here"),
        None => Error::new(kind(derived, reason), declared, "this parameter"),
    }
}

/// A refusal of a cell whose state is one whole lane: at what makes it one
/// lane ([`whole_lane_cause`]) with the states as related places; else at
/// the states; else the cell.
pub(super) fn of_whole_lane(derived: &Derived, reason: String) -> Error {
    let kind = kind(derived, reason);
    let states: Vec<Span> = derived.cell.states.values().map(|state| state.span).collect();
    let (error, related, label) = match (whole_lane_cause(derived), states.split_first()) {
        (Some((cause, label)), _) => (Error::new(kind, cause, label), &states[..], "one lane holds this state"),
        (None, Some((&first, rest))) => {
            (Error::new(kind, first, "one lane with every state"), rest, "in the same lane")
        }
        (None, None) => (Error::new(kind, derived.cell.span, "this cell"), &[][..], ""),
    };
    related.iter().fold(error, |error, &span| error.with_related(span, label))
}

/// What makes a cell's state one whole lane, where the source writes it: the
/// first product of a dense matrix and a state-dependent vector (it couples
/// every channel), else the first value read across channels (a reduction,
/// slice, padding, spread or fold); `None` when no such node has a place.
fn whole_lane_cause(derived: &Derived) -> Option<(Span, &'static str)> {
    let graph = &derived.ir.graph;
    let dependence = Dependence::of(graph);
    let step = || graph.iter().take(derived.ir.step_len);
    let coupling = step().find_map(|(handle, node)| match node.op {
        Op::MatVec(param, _) | Op::MatVecT(param, _)
            if dependence.varying[handle.index()]
                && matches!(derived.cell.params[param].shape, ParamShape::Matrix { .. }) =>
        {
            derived.ir.span(handle).map(|span| (span, "this product couples every channel of the state"))
        }
        _ => None,
    });
    coupling.or_else(|| {
        step()
            .filter(|(_, node)| node.moves_elements())
            .find_map(|(handle, _)| derived.ir.span(handle).map(|span| (span, "this reads across channels")))
    })
}
