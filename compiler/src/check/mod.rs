//! Name resolution and shape checking: from the syntax tree to a checked [`Cell`].

mod bind;
mod broadcast;
mod cell;
mod checker;
mod expr;

pub use bind::{DimSizes, lcm};
pub use cell::*;
pub use checker::{check_cell, check_file};
