//! What the server knows of one version of a document: its diagnostics (exactly
//! `rnnc check`'s errors), the tolerant syntax tree (see [`super::recover`]) and
//! each of its cells checked on its own, so a mistake in one cell leaves the
//! others' shapes known. Made once per version, when first asked for.

use rnnc::Error;
use rnnc::compiler::check::{self, Cell};
use rnnc::compiler::syntax::ast;

use super::recover::{Recovered, parse_tolerant};

/// The errors `rnnc check` reports for `text` (none for a clean text).
pub fn check_errors(text: &str) -> Vec<Error> {
    rnnc::compiler::check_source(text).err().unwrap_or_default()
}

/// One version of a document, analysed for the requests.
#[derive(Debug)]
pub struct Analysis {
    /// The tolerant parse.
    pub recovered: Recovered,
    /// Per cell of the tree, in order: the checked cell, if it checks clean.
    pub checked: Vec<Option<Cell>>,
}

impl Analysis {
    /// Analyses `text`.
    pub fn of(text: &str) -> Analysis {
        let recovered = parse_tolerant(text);
        let checked = match &recovered.file {
            Some(file) => file.cells.iter().map(|cell| check::check_cell(cell).ok()).collect(),
            None => Vec::new(),
        };
        Analysis { recovered, checked }
    }

    /// The cells of the tree (none when the text could not be parsed).
    pub fn cells(&self) -> &[ast::Cell] {
        self.recovered.file.as_ref().map_or(&[], |file| &file.cells)
    }

    /// The cell whose text holds byte `offset` (touching its ends), with its
    /// index.
    pub fn cell_at(&self, offset: u32) -> Option<(usize, &ast::Cell)> {
        self.cells().iter().enumerate().find(|(_, cell)| cell.span.start <= offset && offset <= cell.span.end)
    }

    /// The checked form of cell `index`, if it checks clean.
    pub fn checked(&self, index: usize) -> Option<&Cell> {
        self.checked.get(index).and_then(Option::as_ref)
    }

    /// The text of cell `index` as parsed (the key of its derived facts).
    pub fn cell_text(&self, index: usize) -> &str {
        let span = self.cells()[index].span;
        self.recovered.text.get(span.range()).unwrap_or("")
    }
}
