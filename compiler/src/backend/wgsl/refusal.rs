//! What the wgsl back end cannot compile, as errors at the place in the
//! source that asks for it: the product that uses a parameter, the
//! parameter's declaration when no product is written there, or the cell.

use crate::Derived;
use crate::arena::Handle;
use crate::check::Param;
use crate::error::{Error, ErrorKind};
use crate::ir::Node;

/// The error kind of every refusal.
pub(super) fn kind(derived: &Derived, reason: String) -> ErrorKind {
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
