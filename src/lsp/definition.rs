//! Go to definition: a name goes to its declaration (`check::name_at`); `NAME'`
//! in an expression goes to the update `NAME' = ...` that defines it.

use lsp_types::{Location, Uri};
use rnnc::compiler::check::{self, NameRole};

use super::document::Document;

/// Where the name at byte `offset` of `document` is defined.
pub fn definition(uri: &Uri, document: &Document, offset: u32) -> Option<Location> {
    let (_, cell) = document.analysis().cell_at(offset)?;
    let name = check::name_at(cell, offset)?;
    let span = match name.role {
        NameRole::Next => name.update.or(name.declaration.map(|d| d.span))?,
        _ => name.declaration?.span,
    };
    Some(Location { uri: uri.clone(), range: document.range(span) })
}
