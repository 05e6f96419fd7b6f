//! The rnnc compiler.
#![deny(missing_docs)]

pub mod arena;
pub mod error;
pub mod span;
pub mod syntax;
