//! The surface syntax: pest grammar, syntax tree, and parser.

pub mod ast;
mod parse;
mod prescan;

pub use parse::parse;
pub use prescan::MAX_NESTING;
