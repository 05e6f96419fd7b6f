//! Finding cell sources: a path on disk or a shipped cell (`stdlib:NAME`).

use std::io::Read;
use std::path::Path;

use rnnc_compiler::{Cell, Error};

/// The prefix that names a shipped cell instead of a file.
pub const STDLIB_PREFIX: &str = "stdlib:";

/// A source text and the name to show for it in diagnostics.
#[derive(Clone, Debug)]
pub struct Source {
    /// The path as given, or `stdlib:NAME`.
    pub name: String,
    /// The file's bytes (a file's without a UTF-8 byte-order mark, and with lone
    /// `\r` line breaks made `\n`, so that lines are counted as editors count them).
    pub bytes: Vec<u8>,
}

/// Why a source could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No such shipped cell.
    #[error("no shipped cell is called `{name}` (the shipped cells are: {available})")]
    UnknownStdlibCell {
        /// The name asked for.
        name: String,
        /// The names there are.
        available: String,
    },
    /// The file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The path.
        path: String,
        /// The reason.
        source: std::io::Error,
    },
    /// The file is longer than a source may be (`/dev/zero`, a data file).
    #[error("cannot read `{path}`: it is larger than {limit} bytes ({} MiB), the most a source file may hold", limit >> 20)]
    TooLarge {
        /// The path.
        path: String,
        /// The limit ([`rnnc_compiler::limits::MAX_SOURCE_BYTES`]).
        limit: usize,
    },
}

impl Source {
    /// Reads `spec`: `stdlib:NAME` for a shipped cell, otherwise a file path.
    pub fn load(spec: &str) -> Result<Source, LoadError> {
        if let Some(name) = spec.strip_prefix(STDLIB_PREFIX) {
            let cell = rnnc_stdlib::get(name).ok_or_else(|| LoadError::UnknownStdlibCell {
                name: name.to_owned(),
                available: rnnc_stdlib::CELLS.iter().map(|c| c.name).collect::<Vec<_>>().join(", "),
            })?;
            return Ok(Source { name: spec.to_owned(), bytes: cell.source.as_bytes().to_vec() });
        }
        let io = |source| LoadError::Io { path: spec.to_owned(), source };
        // At most one byte past the limit is read, whatever the file is (`/dev/zero`).
        let limit = rnnc_compiler::limits::MAX_SOURCE_BYTES;
        let mut bytes = Vec::new();
        std::fs::File::open(Path::new(spec))
            .and_then(|file| file.take(limit as u64 + 1).read_to_end(&mut bytes))
            .map_err(io)?;
        if bytes.len() > limit {
            return Err(LoadError::TooLarge { path: spec.to_owned(), limit });
        }
        Ok(Source { name: spec.to_owned(), bytes: normalise(bytes) })
    }

    /// A source held in memory, named `name`.
    pub fn from_text(name: impl Into<String>, text: impl Into<String>) -> Source {
        Source { name: name.into(), bytes: text.into().into_bytes() }
    }

    /// The text, with any invalid UTF-8 replaced (for showing diagnostics).
    pub fn display_text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// Parses and checks every cell.
    pub fn check(&self) -> Result<Vec<Cell>, Vec<Error>> {
        let text = rnnc_compiler::source_text(&self.bytes).map_err(|e| vec![e])?;
        rnnc_compiler::check_source(text)
    }
}

/// Drops a UTF-8 byte-order mark and turns each lone `\r` (old Mac line breaks)
/// into `\n`, byte for byte, so offsets past the mark are unchanged.
fn normalise(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    for i in 0..bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n') {
            bytes[i] = b'\n';
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn byte_order_marks_go_and_lone_carriage_returns_become_newlines() {
        assert_eq!(normalise(b"\xEF\xBB\xBFcell".to_vec()), b"cell");
        assert_eq!(normalise(b"a\rb\r\nc\r".to_vec()), b"a\nb\r\nc\n");
        assert_eq!(normalise(b"\xEF\xBB".to_vec()), b"\xEF\xBB");
    }
}
