//! The document store's unit: one open `.rnn` text, its version, its line
//! index, and its analysis (made on the first request that needs it, dropped on
//! every change).

use std::cell::OnceCell;

use lsp_types::{Position, Range, TextDocumentContentChangeEvent};
use rnnc::Span;

use super::analysis::Analysis;
use super::position::{Encoding, LineIndex};

/// An open document.
#[derive(Debug)]
pub struct Document {
    /// The client's version number.
    pub version: i32,
    /// The text, as the editor holds it.
    pub text: String,
    /// Where its lines start.
    pub index: LineIndex,
    encoding: Encoding,
    analysis: OnceCell<Analysis>,
}

impl Document {
    /// A document opened with `text`.
    pub fn new(text: String, version: i32, encoding: Encoding) -> Document {
        let index = LineIndex::new(&text, encoding);
        Document { version, text, index, encoding, analysis: OnceCell::new() }
    }

    /// Applies the client's changes, in order (a change without a range is the
    /// whole new text).
    pub fn apply(&mut self, changes: Vec<TextDocumentContentChangeEvent>, version: i32) {
        for change in changes {
            match change.range {
                Some(range) => {
                    let span = self.index.span(&self.text, range);
                    self.text.replace_range(span.range(), &change.text);
                }
                None => self.text = change.text,
            }
            self.index = LineIndex::new(&self.text, self.encoding);
        }
        self.version = version;
        self.analysis = OnceCell::new();
    }

    /// The analysis of the current text.
    pub fn analysis(&self) -> &Analysis {
        self.analysis.get_or_init(|| Analysis::of(&self.text))
    }

    /// The byte offset of `position`.
    pub fn offset(&self, position: Position) -> u32 {
        self.index.offset(&self.text, position)
    }

    /// The position of byte `offset`.
    pub fn position(&self, offset: u32) -> Position {
        self.index.position(&self.text, offset)
    }

    /// The range of `span`.
    pub fn range(&self, span: Span) -> Range {
        self.index.range(&self.text, span)
    }
}
