//! rnnc: a compiler and runtime for nonlinear recurrent cells, evaluated in
//! parallel over the sequence (ParaRNN's Newton + parallel scan, made automatic).
//!
//! This crate is the public face: it re-exports the compiler and adds what users of
//! the language need around it: finding sources (including the shipped cells) and
//! rendering errors for people, as the `rnnc` command line does.
//!
//! ```
//! let source = rnnc::Source::load("stdlib:para_gru").unwrap();
//! let cells = source.check().unwrap();
//! assert_eq!(cells[0].name, "para_gru");
//! assert_eq!(cells[0].states.len(), 1);
//! ```
#![deny(missing_docs)]

mod render;
mod source;

pub use render::render_errors;
pub use rnnc_compiler as compiler;
pub use rnnc_compiler::{Cell, Error, ErrorKind, Span};
pub use source::{LoadError, STDLIB_PREFIX, Source};
