//! The IR of one step of a cell: a flat, hash-consed DAG of vector expressions.
//!
//! # What the IR means
//!
//! An [`Ir`] computes one step `state' = f(state, input; params)` of a cell. Its
//! [`Graph`] is an arena of [`Node`]s in which every operand precedes its users, so
//! walking the arena in order evaluates the step and walking it backwards visits
//! users before operands: no pass recurses on the depth of an expression. Equal
//! nodes are stored once (hash-consing), so a subexpression written twice, or
//! rebuilt by differentiation, is computed once.
//!
//! Every value is a vector whose length is a [`Size`](crate::check::Size) (a dim or
//! a literal), or a scalar. Scalars are broadcast by the elementwise binary
//! operations, and only ever hold constants: the inputs, states and parameters of
//! a cell are all vectors, so a scalar can only be computed from literals, and
//! such computations are folded when the node is built. Where a step's result must
//! be a vector, a scalar is broadcast explicitly by [`Op::Splat`]. Matrices are
//! never values: a dense or block-diagonal parameter appears only in
//! [`Op::MatVec`] (and [`Op::MatVecT`], its transpose, for backward passes).
//! A matrix-shaped value (`state h: [D, N]`) is the vector of its elements,
//! row-major, of a [`Size::Matrix`](crate::check::Size::Matrix) length; a vector
//! laid along it is an [`Op::Spread`], its row or column sums an [`Op::Fold`].
//!
//! The first [`Ir::step_len`] nodes are exactly the step, as lowered from the
//! cell ([`lower()`]); later passes ([`crate::derive`]) append derivative
//! expressions after them, which may read any step node (a derivative of `tanh`
//! reads the `tanh` value) but never change one. [`Ir::updates`] and
//! [`Ir::outputs`] are the step's results, indexed like the cell's states and
//! outputs.
//!
//! The text form (`rnnc compile --emit ir`) lists one node per line,
//! `v3 = add v1, v2 ; [H]`, then the results: `h' = v20`, `output h = v20`.

mod display;
mod graph;
mod lower;
mod node;
pub mod semantics;

pub(crate) use display::name_in;
pub use display::{IrDisplay, ValueName, size_text};
pub use graph::Graph;
pub use lower::lower;
pub use node::{Along, BinaryOp, Literal, Node, Op, ReduceOp, Shape, UnaryOp, binary_mnemonic};

use crate::arena::Handle;
use crate::check::Cell;
use crate::span::Span;

/// The IR of one step of a cell. See the [module documentation](self).
#[derive(Clone, Debug)]
pub struct Ir {
    /// Every node: the step's, then derivative expressions.
    pub graph: Graph,
    /// The next value of each state (a vector of the state's length), indexed
    /// like [`Cell::states`].
    pub updates: Vec<Handle<Node>>,
    /// The value of each output (a vector), indexed like [`Cell::outputs`].
    pub outputs: Vec<Handle<Node>>,
    /// How many nodes, from the first, compute the step.
    pub step_len: usize,
    /// Where each step node is first written in the cell's source (`None`
    /// for nodes no expression is: the parts of a reassociated sum, splats).
    pub spans: Vec<Option<Span>>,
}

impl Ir {
    /// The step's results: every update, then every output.
    pub fn roots(&self) -> impl Iterator<Item = Handle<Node>> + '_ {
        self.updates.iter().chain(&self.outputs).copied()
    }

    /// Where `node` is written in the cell's source: a step node that is an
    /// expression's; derivative expressions have no place.
    pub fn span(&self, node: Handle<Node>) -> Option<Span> {
        self.spans.get(node.index()).copied().flatten()
    }

    /// Whether `node` is part of the step (rather than a derivative expression).
    pub fn is_step_node(&self, node: Handle<Node>) -> bool {
        node.index() < self.step_len
    }

    /// The text form, with the names of `cell` (the cell this IR was lowered from).
    pub fn display<'a>(&'a self, cell: &'a Cell) -> IrDisplay<'a> {
        IrDisplay { ir: self, cell }
    }
}
