//! Finding cell sources: a path on disk or a shipped cell (`stdlib:NAME`).

use std::path::Path;

use rnnc_compiler::{Cell, Error};

/// The prefix that names a shipped cell instead of a file.
pub const STDLIB_PREFIX: &str = "stdlib:";

/// A source text and the name to show for it in diagnostics.
#[derive(Clone, Debug)]
pub struct Source {
    /// The path as given, or `stdlib:NAME`.
    pub name: String,
    /// The file's bytes.
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
        let bytes = std::fs::read(Path::new(spec)).map_err(|source| LoadError::Io { path: spec.to_owned(), source })?;
        Ok(Source { name: spec.to_owned(), bytes })
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
