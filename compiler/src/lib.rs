//! The rnnc compiler: `.rnn` source in; checked cells, derivatives, proved Jacobian
//! structure and kernels out. It owns no device and does no I/O.
//!
//! The passes run in order: [`syntax::parse`] turns text into a syntax tree with
//! spans; [`check`] resolves names and shapes into a [`check::Cell`]; [`derive_cell`]
//! lowers it to the [`ir`], differentiates it ([`derive`], simplified with egg),
//! proves the structure of its state Jacobian and finds what to hoist ([`analyse`]);
//! the [`backend`]s turn that into WGSL and cranelift IR; [`interp`] is the float64
//! reference every backend is tested against. Every problem is an [`Error`] value
//! with a [`Span`]; nothing here panics on any input or prints anything.
#![deny(missing_docs)]

pub mod analyse;
pub mod arena;
pub mod backend;
pub mod check;
pub mod derive;
mod derived;
pub mod error;
pub mod interp;
pub mod ir;
pub mod limits;
pub mod plan;
pub mod span;
pub mod syntax;

pub use check::Cell;
pub use derived::{Derived, Staged, StagedOperand, derive_cell, derive_cell_with, linear_states};
pub use error::{Error, ErrorKind};
pub use span::{LineCol, Span};

/// Parses and checks a source text: every cell it defines, or every error found.
pub fn check_source(source: &str) -> Result<Vec<Cell>, Vec<Error>> {
    let file = syntax::parse(source).map_err(|error| vec![error])?;
    check::check_file(&file)
}

/// The bytes of a source file as text, or an error at the first byte that is not
/// UTF-8.
pub fn source_text(bytes: &[u8]) -> Result<&str, Error> {
    std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        Error::new(ErrorKind::NotUtf8 { offset }, Span::new(offset, offset + 1), "not UTF-8")
    })
}
