//! A linear scan before the grammar: finds unterminated block comments and
//! parentheses nested deeper than [`MAX_NESTING`], so that the recursive-descent
//! parser never sees input that could exhaust its stack.

use crate::error::{Error, ErrorKind};
use crate::span::Span;

/// The deepest nesting of parentheses (groups and calls) a source may have.
pub const MAX_NESTING: usize = 64;

/// Checks comments and nesting; returns the first problem found.
pub fn prescan(source: &str) -> Result<(), Error> {
    let bytes = source.as_bytes();
    let mut open_parens: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1)) {
            (b'/', Some(b'/')) => {
                // As in the grammar, a line comment ends at `\n` or `\r`.
                i = bytes[i..].iter().position(|&b| b == b'\n' || b == b'\r').map_or(bytes.len(), |n| i + n);
            }
            (b'/', Some(b'*')) => match find(b"*/", &bytes[i + 2..]) {
                Some(n) => i += 2 + n + 2,
                None => {
                    return Err(Error::new(
                        ErrorKind::UnterminatedComment,
                        Span::new(i, i + 2),
                        "this comment is never closed with `*/`",
                    ));
                }
            },
            (b'(', _) => {
                open_parens.push(i);
                if open_parens.len() > MAX_NESTING {
                    return Err(Error::new(
                        ErrorKind::NestingTooDeep { limit: MAX_NESTING },
                        Span::new(i, i + 1),
                        "this parenthesis is too deep",
                    )
                    .with_hint("split the expression with `let` statements"));
                }
                i += 1;
            }
            (b')', _) => {
                open_parens.pop();
                i += 1;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

fn find(needle: &[u8], haystack: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_hide_parentheses_and_must_be_closed() {
        let deep = "(".repeat(MAX_NESTING + 1);
        assert!(prescan(&format!("// {deep}\n/* {deep} */")).is_ok());
        let err = prescan("cell c { } /* open").unwrap_err();
        assert_eq!(err.kind, ErrorKind::UnterminatedComment);
        assert_eq!(err.span, Span::new(11, 13));
    }

    #[test]
    fn a_line_comment_ends_at_a_lone_carriage_return() {
        let deep = "(".repeat(MAX_NESTING + 1);
        let err = prescan(&format!("// comment\r{deep}")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::NestingTooDeep { limit: MAX_NESTING });
    }

    #[test]
    fn nesting_is_bounded_at_the_first_parenthesis_too_deep() {
        let ok = format!("{}{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert!(prescan(&ok).is_ok());
        let err = prescan(&format!("x {}", "(".repeat(20_000))).unwrap_err();
        assert_eq!(err.kind, ErrorKind::NestingTooDeep { limit: MAX_NESTING });
        assert_eq!(err.span.start as usize, 2 + MAX_NESTING);
    }
}
