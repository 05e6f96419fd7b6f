//! Places in a document: byte offsets (the compiler's spans) to and from LSP
//! positions (line, character), in the encoding agreed at initialisation.
//!
//! Lines break at `\n`, `\r\n` and a lone `\r`, as the protocol says. Characters
//! count UTF-16 code units unless the client accepts UTF-8 (then bytes). Every
//! conversion clamps: a position past a line's end is the line's end, a line past
//! the last is the end of the text, an offset inside a character is its start.

use lsp_types::{Position, PositionEncodingKind, Range};
use rnnc::Span;

/// How a position's `character` counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Bytes of UTF-8.
    Utf8,
    /// UTF-16 code units (the protocol's default).
    Utf16,
}

impl Encoding {
    /// The encoding to use: UTF-8 when the client offers it, else UTF-16.
    pub fn negotiate(offered: Option<&[PositionEncodingKind]>) -> Encoding {
        match offered {
            Some(kinds) if kinds.contains(&PositionEncodingKind::UTF8) => Encoding::Utf8,
            _ => Encoding::Utf16,
        }
    }

    /// The name the protocol gives it.
    pub fn kind(self) -> PositionEncodingKind {
        match self {
            Encoding::Utf8 => PositionEncodingKind::UTF8,
            Encoding::Utf16 => PositionEncodingKind::UTF16,
        }
    }

    fn units(self, c: char) -> u32 {
        match self {
            Encoding::Utf8 => c.len_utf8() as u32,
            Encoding::Utf16 => c.len_utf16() as u32,
        }
    }
}

/// Where each line of one text starts.
#[derive(Clone, Debug)]
pub struct LineIndex {
    starts: Vec<u32>,
    encoding: Encoding,
}

impl LineIndex {
    /// The lines of `text`.
    pub fn new(text: &str, encoding: Encoding) -> LineIndex {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
                starts.push(i as u32 + 1);
            }
        }
        LineIndex { starts, encoding }
    }

    /// The position of byte `offset` of `text` (the text this index was made from).
    pub fn position(&self, text: &str, offset: u32) -> Position {
        let offset = floor_boundary(text, offset as usize);
        let line = self.starts.partition_point(|&start| start as usize <= offset) - 1;
        let start = self.starts[line] as usize;
        let character = text[start..offset].chars().map(|c| self.encoding.units(c)).sum();
        Position { line: line as u32, character }
    }

    /// The byte offset of `position` in `text`.
    pub fn offset(&self, text: &str, position: Position) -> u32 {
        let Some(&start) = self.starts.get(position.line as usize) else {
            return text.len() as u32;
        };
        let start = start as usize;
        let end = self.starts.get(position.line as usize + 1).map_or(text.len(), |&next| next as usize);
        let line = text[start..end].trim_end_matches(['\n', '\r']);
        let mut units = 0;
        for (at, c) in line.char_indices() {
            if units >= position.character {
                return (start + at) as u32;
            }
            units += self.encoding.units(c);
        }
        (start + line.len()) as u32
    }

    /// The range of `span` in `text`.
    pub fn range(&self, text: &str, span: Span) -> Range {
        Range { start: self.position(text, span.start), end: self.position(text, span.end.max(span.start)) }
    }

    /// The span of `range` in `text`.
    pub fn span(&self, text: &str, range: Range) -> Span {
        let start = self.offset(text, range.start);
        Span { start, end: self.offset(text, range.end).max(start) }
    }
}

/// `offset` clamped to `text` and moved back to a character boundary.
fn floor_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units_and_every_kind_of_line_break() {
        let text = "aé𝔸b\r\nc\rd\n";
        let index = LineIndex::new(text, Encoding::Utf16);
        let b = text.find('b').expect("b") as u32;
        assert_eq!(index.position(text, b), Position { line: 0, character: 4 });
        assert_eq!(index.offset(text, Position { line: 0, character: 4 }), b);
        assert_eq!(index.position(text, text.find('c').expect("c") as u32), Position { line: 1, character: 0 });
        assert_eq!(index.position(text, text.find('d').expect("d") as u32), Position { line: 2, character: 0 });
        // Past the line's end: the end of the line, before its break.
        assert_eq!(index.offset(text, Position { line: 0, character: 99 }), b + 1);
        assert_eq!(index.offset(text, Position { line: 9, character: 0 }), text.len() as u32);
        // Inside a character: its start.
        assert_eq!(index.position(text, 2), Position { line: 0, character: 1 });
        let utf8 = LineIndex::new(text, Encoding::Utf8);
        assert_eq!(utf8.position(text, b), Position { line: 0, character: b });
    }
}
