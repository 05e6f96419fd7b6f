//! The header of a `.npy` file: a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`, parsed by hand into
//! [`Header`], and written back in exactly the form numpy writes.
//!
//! The parser knows the few Python literals numpy uses (strings, `True`/`False`,
//! integers, tuples, lists, `None`); nesting is bounded, so no header can exhaust the
//! stack.

use std::fmt::Write;

/// How deep tuples and lists may nest (structured dtypes nest a little; numpy's own
/// headers never go past 3).
const MAX_DEPTH: usize = 32;

/// What a `.npy` header says about its array.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Header {
    /// The dtype: a string such as `<f4` for simple dtypes; for anything else (a
    /// structured dtype), its text as written.
    pub descr: Descr,
    /// Whether the data is in Fortran (column-major) order.
    pub fortran_order: bool,
    /// The sizes of the axes.
    pub shape: Vec<u64>,
}

/// The `descr` entry of a header.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Descr {
    /// A simple dtype, such as `<f4`.
    Simple(String),
    /// Anything else, as written in the header.
    Other(String),
}

/// A Python literal, as numpy writes them.
#[derive(Clone, Debug, PartialEq)]
enum Literal {
    Str(String),
    Bool(bool),
    Int(u64),
    None,
    Tuple(Vec<Literal>),
    List(Vec<Literal>),
}

/// Parses a header's text; the error says what is wrong with it.
pub(super) fn parse_header(text: &str) -> Result<Header, String> {
    let mut parser = Parser { text, pos: 0 };
    let entries = parser.dict()?;
    parser.skip_space();
    if parser.pos != text.len() {
        return Err(format!("unexpected text after the dictionary at byte {}", parser.pos));
    }
    let mut descr = None;
    let mut fortran_order = None;
    let mut shape = None;
    for (key, value, raw) in entries {
        match key.as_str() {
            "descr" => {
                descr = Some(match value {
                    Literal::Str(s) => Descr::Simple(s),
                    _ => Descr::Other(raw.to_owned()),
                })
            }
            "fortran_order" => match value {
                Literal::Bool(b) => fortran_order = Some(b),
                _ => return Err(format!("'fortran_order' must be True or False, found {raw}")),
            },
            "shape" => match value {
                Literal::Tuple(items) => {
                    let sizes: Option<Vec<u64>> =
                        items.iter().map(|item| if let Literal::Int(n) = item { Some(*n) } else { None }).collect();
                    shape = Some(sizes.ok_or_else(|| format!("'shape' must be a tuple of integers, found {raw}"))?);
                }
                _ => return Err(format!("'shape' must be a tuple of integers, found {raw}")),
            },
            other => {
                return Err(format!("unexpected key '{other}' (a .npy header has 'descr', 'fortran_order', 'shape')"));
            }
        }
    }
    match (descr, fortran_order, shape) {
        (Some(descr), Some(fortran_order), Some(shape)) => Ok(Header { descr, fortran_order, shape }),
        (None, _, _) => Err("the key 'descr' is missing".to_owned()),
        (_, None, _) => Err("the key 'fortran_order' is missing".to_owned()),
        (_, _, None) => Err("the key 'shape' is missing".to_owned()),
    }
}

/// The header text numpy writes for a little-endian float32 C-order array of `shape`,
/// before padding: the dict, then the spare spaces numpy leaves so the first axis can
/// grow in place.
pub(super) fn header_text(shape: &[usize]) -> String {
    let mut shape_repr = String::from("(");
    for (i, size) in shape.iter().enumerate() {
        if i > 0 {
            shape_repr.push_str(", ");
        }
        let _ = write!(shape_repr, "{size}");
    }
    if shape.len() == 1 {
        shape_repr.push(',');
    }
    shape_repr.push(')');
    let mut text = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_repr}, }}");
    // numpy's GROWTH_AXIS_MAX_DIGITS: room for the first axis to reach 21 digits.
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        text.push_str(&" ".repeat(21usize.saturating_sub(digits)));
    }
    text
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            if !c.is_whitespace() {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    fn expect(&mut self, wanted: char) -> Result<(), String> {
        self.skip_space();
        match self.peek() {
            Some(c) if c == wanted => {
                self.pos += c.len_utf8();
                Ok(())
            }
            Some(c) => Err(format!("expected '{wanted}' at byte {}, found '{c}'", self.pos)),
            None => Err(format!("expected '{wanted}' at byte {}, found the end of the header", self.pos)),
        }
    }

    /// `{KEY: VALUE, ...}` with string keys; each value comes with its text.
    fn dict(&mut self) -> Result<Vec<(String, Literal, &'a str)>, String> {
        self.expect('{')?;
        let mut entries: Vec<(String, Literal, &'a str)> = Vec::new();
        loop {
            self.skip_space();
            if self.peek() == Some('}') {
                self.pos += 1;
                return Ok(entries);
            }
            let key = match self.value(0)? {
                (Literal::Str(key), _) => key,
                (_, raw) => return Err(format!("dictionary keys must be strings, found {raw}")),
            };
            if entries.iter().any(|(k, _, _)| *k == key) {
                return Err(format!("the key '{key}' appears twice"));
            }
            self.expect(':')?;
            let (value, raw) = self.value(0)?;
            entries.push((key, value, raw));
            self.skip_space();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {}
                Some(c) => return Err(format!("expected ',' or '}}' at byte {}, found '{c}'", self.pos)),
                None => return Err("the dictionary is not closed".to_owned()),
            }
        }
    }

    /// One literal and the text it was written as.
    fn value(&mut self, depth: usize) -> Result<(Literal, &'a str), String> {
        if depth > MAX_DEPTH {
            return Err(format!("values nest more than {MAX_DEPTH} deep"));
        }
        self.skip_space();
        let start = self.pos;
        let literal = match self.peek() {
            Some(quote @ ('\'' | '"')) => self.string(quote)?,
            Some('(') => Literal::Tuple(self.sequence(')', depth)?),
            Some('[') => Literal::List(self.sequence(']', depth)?),
            Some(c) if c.is_ascii_digit() => self.integer()?,
            Some(c) if c.is_ascii_alphabetic() => {
                let word = self.word();
                match word {
                    "True" => Literal::Bool(true),
                    "False" => Literal::Bool(false),
                    "None" => Literal::None,
                    _ => return Err(format!("unexpected name '{word}' at byte {start}")),
                }
            }
            Some(c) => return Err(format!("unexpected '{c}' at byte {start}")),
            None => return Err("the header ends where a value was expected".to_owned()),
        };
        Ok((literal, &self.text[start..self.pos]))
    }

    fn word(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !(c.is_ascii_alphanumeric() || c == '_') {
                break;
            }
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    fn string(&mut self, quote: char) -> Result<Literal, String> {
        let start = self.pos;
        self.pos += 1;
        let mut value = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(format!("the string starting at byte {start} is not closed"));
            };
            self.pos += c.len_utf8();
            if c == quote {
                return Ok(Literal::Str(value));
            }
            if c == '\\' {
                let Some(escaped) = self.peek() else {
                    return Err(format!("the string starting at byte {start} is not closed"));
                };
                self.pos += escaped.len_utf8();
                value.push(escaped);
            } else {
                value.push(c);
            }
        }
    }

    fn integer(&mut self) -> Result<Literal, String> {
        let start = self.pos;
        let digits = self.word();
        // Python 2 wrote long integers with a trailing L.
        let digits = digits.strip_suffix(['L', 'l']).unwrap_or(digits);
        digits.parse::<u64>().map(Literal::Int).map_err(|_| format!("'{digits}' at byte {start} is not a valid size"))
    }

    /// `(a, b, ...)` or `[a, b, ...]`, with an optional trailing comma.
    fn sequence(&mut self, close: char, depth: usize) -> Result<Vec<Literal>, String> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_space();
            if self.peek() == Some(close) {
                self.pos += 1;
                return Ok(items);
            }
            items.push(self.value(depth + 1)?.0);
            self.skip_space();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(c) if c == close => {}
                Some(c) => return Err(format!("expected ',' or '{close}' at byte {}, found '{c}'", self.pos)),
                None => return Err(format!("a sequence is not closed with '{close}'")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_numpy_writes() {
        let header = parse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }    \n").expect("valid");
        assert_eq!(header, Header { descr: Descr::Simple("<f4".into()), fortran_order: false, shape: vec![2, 3] });
        let header = parse_header("{\"shape\": (5L,), \"fortran_order\": True, \"descr\": \"<f4\"}").expect("valid");
        assert_eq!(header.shape, vec![5]);
        assert!(header.fortran_order);
        assert_eq!(
            parse_header("{'descr':'<f4','fortran_order':False,'shape':()}").expect("valid").shape,
            Vec::<u64>::new()
        );
    }

    #[test]
    fn structured_dtypes_are_kept_as_text() {
        let header =
            parse_header("{'descr': [('a', '<f4'), ('b', '<i4', (2,))], 'fortran_order': False, 'shape': (3,), }")
                .expect("valid");
        assert_eq!(header.descr, Descr::Other("[('a', '<f4'), ('b', '<i4', (2,))]".into()));
    }

    #[test]
    fn malformed_headers_say_what_is_wrong() {
        let cases = [
            ("{'descr': '<f4', 'fortran_order': False}", "the key 'shape' is missing"),
            ("{'descr': '<f4', 'fortran_order': 0, 'shape': ()}", "'fortran_order' must be True or False, found 0"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 'x')}", "'shape' must be a tuple of integers"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", "unexpected '-'"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}", "unexpected key 'extra'"),
            ("{'descr': '<f4', 'descr': '<f4'}", "the key 'descr' appears twice"),
            ("{'descr': '<f4", "is not closed"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} x", "unexpected text after"),
            ("{'shape': (99999999999999999999999,)}", "is not a valid size"),
            ("", "expected '{'"),
        ];
        for (text, wanted) in cases {
            let error = parse_header(text).expect_err(text);
            assert!(error.contains(wanted), "{text:?}: {error}");
        }
        let deep = format!("{{'descr': {}{}}}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse_header(&deep).expect_err("too deep").contains("nest more than 32 deep"));
    }

    #[test]
    fn header_text_matches_numpy() {
        assert_eq!(
            header_text(&[2, 3]),
            format!("{{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }}{}", " ".repeat(20))
        );
        assert_eq!(
            header_text(&[7]),
            format!("{{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }}{}", " ".repeat(20))
        );
        assert_eq!(header_text(&[]), "{'descr': '<f4', 'fortran_order': False, 'shape': (), }");
    }
}
