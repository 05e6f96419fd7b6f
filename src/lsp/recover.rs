//! A syntax tree for text being typed. The compiler's parser stops at the first
//! syntax error (and `rnnc check` reports just that one, which is what the
//! diagnostics show); hover, completion, symbols and the lens still want the
//! cells around an unfinished line. So, for those only, the statement holding
//! the error is blanked (its bytes become spaces; comments and line breaks stay)
//! and the text parsed again, until it parses or [`MAX_REPAIRS`] is reached.
//! Blanking keeps every byte offset, so the tree's spans point into the text the
//! editor holds. A cell left open at the end of the text is closed by appending
//! `}` (after every offset that matters), one left open before the next `cell`
//! by turning the space before that keyword into `}`.

use rnnc::ErrorKind;
use rnnc::compiler::syntax::{self, ast};

/// The most parses one text gets.
pub const MAX_REPAIRS: usize = 32;

/// The words that begin an item or a cell.
const ITEM_KEYWORDS: [&str; 7] = ["cell", "dim", "input", "state", "param", "let", "output"];

/// The text that was parsed (the source with unfinished statements blanked) and
/// its syntax tree, if some repair of it parsed.
#[derive(Clone, Debug)]
pub struct Recovered {
    /// The text parsed: byte for byte the source where the tree has spans.
    pub text: String,
    /// The tree; `None` when the text could not be repaired.
    pub file: Option<ast::File>,
}

/// Parses `source`, repairing it as the [module documentation](self) says.
pub fn parse_tolerant(source: &str) -> Recovered {
    let mut text = source.as_bytes().to_vec();
    for _ in 0..MAX_REPAIRS {
        let Ok(current) = std::str::from_utf8(&text) else { break };
        let error = match syntax::parse(current) {
            Ok(file) => return Recovered { text: current.to_owned(), file: Some(file) },
            Err(error) => error,
        };
        let progressed = match error.kind {
            ErrorKind::EmptyFile => {
                let text = current.to_owned();
                return Recovered { text, file: Some(ast::File { cells: Vec::new() }) };
            }
            ErrorKind::UnterminatedComment => {
                text.extend_from_slice(b"*/");
                true
            }
            ErrorKind::Syntax { .. } => repair(&mut text, error.span.start as usize),
            // Reported at the end of the statement that lacks its `;`: blank
            // that statement and keep the next.
            ErrorKind::MissingSemicolon => blank_statement_ending_at(&mut text, error.span.start as usize),
            _ => false,
        };
        if !progressed {
            break;
        }
    }
    Recovered { text: String::from_utf8_lossy(&text).into_owned(), file: None }
}

/// Blanks the statement holding a syntax error at `at`, or closes a cell;
/// returns whether the text changed.
fn repair(text: &mut Vec<u8>, at: usize) -> bool {
    let at = at.min(text.len());
    let comment = comment_mask(text);
    let delimiter = |i: usize| !comment[i] && matches!(text[i], b';' | b'{' | b'}');
    let start = (0..at).rev().find(|&i| delimiter(i)).map_or(0, |i| i + 1);
    let word_len = text[at..].iter().take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_').count();
    let word = text[at..at + word_len].to_vec();
    let begins_item = at == text.len()
        || text[at] == b'}'
        || ITEM_KEYWORDS.iter().any(|k| k.as_bytes() == word.as_slice())
        || (word_len > 0 && text.get(at + word_len) == Some(&b'\''));
    let end = if begins_item {
        at
    } else {
        match (at..text.len()).find(|&i| delimiter(i)) {
            Some(i) if text[i] == b';' => i + 1,
            Some(i) => i,
            None => text.len(),
        }
    };
    if blank(text, &comment, start, end) {
        return true;
    }
    if at == text.len() {
        // Everything is complete but a cell's closing brace.
        if text.ends_with(b"\n}") {
            return false;
        }
        text.extend_from_slice(b"\n}");
        return true;
    }
    if word == b"cell" {
        // The cell before this one is not closed: close it in the space before.
        if let Some(space) = (start..at).rev().find(|&i| !comment[i] && text[i].is_ascii_whitespace()) {
            text[space] = b'}';
            return true;
        }
    }
    // Nothing before the error to blank: blank the token at it.
    let token_end = if word_len > 0 { at + word_len } else { char_end(text, at) };
    blank(text, &comment, at, token_end)
}

/// Blanks the statement that ends at `at` (from the delimiter before it);
/// returns whether the text changed.
fn blank_statement_ending_at(text: &mut [u8], at: usize) -> bool {
    let at = at.min(text.len());
    let comment = comment_mask(text);
    let start = (0..at).rev().find(|&i| !comment[i] && matches!(text[i], b';' | b'{' | b'}')).map_or(0, |i| i + 1);
    blank(text, &comment, start, at)
}

/// Turns the bytes `start..end` that are neither comment nor line break into
/// spaces; returns whether one was not already whitespace.
fn blank(text: &mut [u8], comment: &[bool], start: usize, end: usize) -> bool {
    let mut changed = false;
    for i in start..end.min(text.len()) {
        if !comment[i] && !text[i].is_ascii_whitespace() {
            text[i] = b' ';
            changed = true;
        }
    }
    changed
}

/// One past the character starting at byte `at`.
fn char_end(text: &[u8], at: usize) -> usize {
    let continuation = text[at + 1..].iter().take_while(|&&b| b & 0xC0 == 0x80).count();
    at + 1 + continuation
}

/// Which bytes belong to a comment (`//` to the line's end, `/* ... */`).
fn comment_mask(text: &[u8]) -> Vec<bool> {
    let mut mask = vec![false; text.len()];
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'/' && text.get(i + 1) == Some(&b'/') {
            while i < text.len() && text[i] != b'\n' && text[i] != b'\r' {
                mask[i] = true;
                i += 1;
            }
        } else if text[i] == b'/' && text.get(i + 1) == Some(&b'*') {
            let close = text[i + 2..].windows(2).position(|w| w == b"*/").map_or(text.len(), |p| i + 2 + p + 2);
            mask[i..close].iter_mut().for_each(|m| *m = true);
            i = close;
        } else {
            i += 1;
        }
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(recovered: &Recovered) -> Vec<String> {
        let file = recovered.file.as_ref().expect("a tree");
        file.cells.iter().map(|c| format!("{}:{}", c.name.name, c.items.len())).collect()
    }

    #[test]
    fn an_unfinished_statement_is_blanked_and_offsets_are_kept() {
        let source = "cell c {\n  dim H;\n  let z = sig\n  input x: [H];\n}\n";
        let recovered = parse_tolerant(source);
        assert_ne!(recovered.text, source);
        assert_eq!(names(&recovered), ["c:2"]);
        assert_eq!(recovered.text.len(), source.len());
        let cell = &recovered.file.as_ref().expect("a tree").cells[0];
        let ast::ItemKind::Input(x, _) = &cell.items[1].kind else { panic!("{:?}", cell.items) };
        assert_eq!(&source[x.span.range()], "x");
    }

    #[test]
    fn a_cell_cut_short_is_closed_at_the_end_and_before_the_next_cell() {
        assert_eq!(names(&parse_tolerant("cell a {\n  dim H;\n  let z = tanh(")), ["a:1"]);
        assert_eq!(names(&parse_tolerant("cell a { dim H;\ncell b { dim D; }")), ["a:1", "b:1"]);
        assert_eq!(names(&parse_tolerant("/// doc\ncell a { dim H; /* open")), ["a:1"]);
    }

    #[test]
    fn a_clean_text_is_not_repaired_and_an_empty_one_has_no_cells() {
        let clean = parse_tolerant("cell a { dim H; }");
        assert_eq!(clean.text, "cell a { dim H; }");
        assert_eq!(names(&parse_tolerant("// nothing yet")), Vec::<String>::new());
        assert_eq!(names(&parse_tolerant("")), Vec::<String>::new());
    }
}
