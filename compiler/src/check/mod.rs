//! Name resolution and shape checking: from the syntax tree to a checked [`Cell`].

mod bind;
mod broadcast;
mod cell;
mod checker;
mod expr;
mod lookup;
mod matrix;
mod slice;

pub use bind::{DimSizes, lcm};
pub use cell::*;
pub use checker::{check_cell, check_file};
pub use lookup::{
    Declaration, DeclarationKind, NameAt, NameRole, declarations, expr_at, first_update, item_at, name_at,
    visible_in_item,
};
