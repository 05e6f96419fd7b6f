//! The syntax tree of a `.rnn` file, with spans, exactly as written.
//!
//! Names are not resolved and shapes not checked here: that is `check`'s work.
//! Expressions of a cell live in one arena, built bottom-up: every operand has a
//! smaller handle than the expression using it, and the nodes of one statement's
//! expression form a contiguous range ending at its root.

use crate::arena::{Arena, Handle};
use crate::span::Span;

/// A parsed file: its cells, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct File {
    /// The cells.
    pub cells: Vec<Cell>,
}

/// `cell NAME { ITEMS }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// The cell's name.
    pub name: Ident,
    /// Its `///` documentation, without the slashes.
    pub doc: Option<String>,
    /// From `cell` to the closing brace.
    pub span: Span,
    /// Declarations and statements, in source order.
    pub items: Vec<Item>,
    /// Every expression in the cell.
    pub exprs: Arena<Expr>,
}

/// A name as written, with its place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where it is written.
    pub span: Span,
}

/// One declaration or statement of a cell.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// What it is.
    pub kind: ItemKind,
    /// Its `///` documentation.
    pub doc: Option<String>,
    /// From its first token to its `;`.
    pub span: Span,
}

/// The kinds of item.
#[derive(Clone, Debug, PartialEq)]
pub enum ItemKind {
    /// `dim NAME;`
    Dim(Ident),
    /// `input NAME: SHAPE;`
    Input(Ident, Shape),
    /// `state NAME: SHAPE;`
    State(Ident, Shape),
    /// `param NAME: SHAPE;` or `param NAME: block[SIZE, K];`
    Param(Ident, ParamShape),
    /// `let NAME = EXPR;`
    Let(Ident, Handle<Expr>),
    /// `NAME' = EXPR;` (the ident's span covers `NAME'`)
    Update(Ident, Handle<Expr>),
    /// `output NAME;` or `output NAME = EXPR;`
    Output(Ident, Option<Handle<Expr>>),
}

/// `[SIZE, ...]` as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Shape {
    /// The sizes, in order.
    pub sizes: Vec<Size>,
    /// From `[` to `]`.
    pub span: Span,
}

/// A size in a shape or a slice: a dim's name, an integer, or `K * DIM`.
#[derive(Clone, Debug, PartialEq)]
pub enum Size {
    /// A dim's name.
    Dim(Ident),
    /// An integer literal.
    Literal(Integer),
    /// `K * DIM`: an integer multiple of a dim.
    Scaled(Integer, Ident),
}

impl Size {
    /// Where the size is written.
    pub fn span(&self) -> Span {
        match self {
            Size::Dim(ident) => ident.span,
            Size::Literal(integer) => integer.span,
            Size::Scaled(integer, ident) => Span::new(integer.span.start as usize, ident.span.end as usize),
        }
    }

    /// The size as written (`H`, `4`, `3 * H`).
    pub fn text(&self) -> String {
        match self {
            Size::Dim(ident) => ident.name.clone(),
            Size::Literal(integer) => integer.value.to_string(),
            Size::Scaled(integer, ident) => format!("{} * {}", integer.value, ident.name),
        }
    }
}

/// An integer literal (saturated at `u64::MAX`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Integer {
    /// Its value.
    pub value: u64,
    /// Where it is written.
    pub span: Span,
}

/// The shape of a parameter.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamShape {
    /// `[SIZE]` or `[SIZE, SIZE]`.
    Dense(Shape),
    /// `scalar`: one number, broadcast where it meets a vector.
    Scalar(Span),
    /// `block[SIZE, K]`.
    Block {
        /// The side of the square matrix.
        size: Size,
        /// The side of each block.
        block: Integer,
        /// From `block` to `]`.
        span: Span,
    },
}

/// An expression node.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it is written.
    pub span: Span,
}

/// The kinds of expression.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A float literal, as written.
    Number(String),
    /// A name.
    Name(String),
    /// `NAME'`: the next value of a state.
    Next(String),
    /// `NAME(ARGS)`.
    Call(Ident, Vec<Handle<Expr>>),
    /// `-EXPR`.
    Neg(Handle<Expr>),
    /// `NAME[START : END]` (or `NAME'[...]`): the operand is a name (or next
    /// value) node.
    Slice(Handle<Expr>, Size, Size),
    /// `LHS OP RHS`.
    Binary(BinaryOp, Handle<Expr>, Handle<Expr>),
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `@`
    MatMul,
    /// `^` (power, with a constant exponent)
    Pow,
}

impl BinaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::MatMul => "@",
            BinaryOp::Pow => "^",
        }
    }
}
