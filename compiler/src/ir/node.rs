//! The nodes of the IR: what each computes, and its shape.

use std::fmt;

use crate::arena::Handle;
pub use crate::check::Along;
pub use crate::check::{BinaryOp, Shape, UnaryOp};
use crate::check::{Input, Param, Size, State};

/// One node of the step's expression graph: an operation and the shape of its value.
///
/// Two nodes are equal when their operations, operands and shapes are; the
/// [`Graph`](super::Graph) stores each distinct node once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Node {
    /// What it computes.
    pub op: Op,
    /// The shape of its value: a scalar (always a constant expression) or a vector.
    pub shape: Shape,
}

/// The operations of the IR.
///
/// Vector operations are elementwise; a [`Shape::Scalar`] operand of a binary
/// operation broadcasts over the other operand. Matrices are never values: they
/// occur only as the parameter of [`Op::MatVec`] and [`Op::MatVecT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// A float constant (a scalar).
    Const(Literal),
    /// An input at this step.
    Input(Handle<Input>),
    /// A state's previous value.
    State(Handle<State>),
    /// A vector parameter.
    Param(Handle<Param>),
    /// An elementwise function of one operand.
    Unary(UnaryOp, Handle<Node>),
    /// An elementwise function of two operands. The exponent of
    /// [`BinaryOp::Pow`] is always a [`Op::Const`] (the checker allows only
    /// constant scalar exponents, and constants fold).
    Binary(BinaryOp, Handle<Node>, Handle<Node>),
    /// The Heaviside step: 1 where the operand is > 0, else 0 (the derivative of
    /// `relu`, `min` and `max` away from their kinks).
    Step(Handle<Node>),
    /// The sign: 1, 0 or -1 (the derivative of `abs` away from 0).
    Sign(Handle<Node>),
    /// A matrix or block-diagonal parameter times a vector.
    MatVec(Handle<Param>, Handle<Node>),
    /// The transpose of a matrix or block-diagonal parameter times a vector.
    MatVecT(Handle<Param>, Handle<Node>),
    /// A scalar broadcast to a vector (the node's shape gives the length).
    Splat(Handle<Node>),
    /// A reduction of the operand vector to one number, broadcast to the
    /// node's length (every element is the reduction's value). The one
    /// operation whose elements read every element of its operand.
    Reduce(ReduceOp, Handle<Node>),
    /// The indicator of the operand's first largest element: 1 at the index a
    /// scan from element 0 ends at when it moves only to strictly greater
    /// elements, 0 elsewhere. The derivative of `max(v)` (the subgradient of
    /// its first maximal element).
    FirstMax(Handle<Node>),
    /// The bound length of a dim or fixed size, as a scalar (a constant once
    /// the sizes are bound: `mean(v)` is `sum(v) / length`).
    Length(Size),
    /// Elements `start .. start + n` of the operand, `n` the node's length.
    Slice(Handle<Node>, Size),
    /// The operand placed at `start` in a vector of the node's length, zeros
    /// elsewhere (`concat(a, b)` is `pad(a, 0) + pad(b, len a)`; the transpose
    /// of a slice).
    Pad(Handle<Node>, Size),
    /// The operand laid along a `[R, C]` matrix of the node's length (row-major):
    /// [`Along::Rows`], a `[R]` operand, element `i` reads `a[i / C]` with
    /// `C = len / len a`; [`Along::Cols`], a `[C]` operand, reads `a[i % C]`.
    Spread(Handle<Node>, Along),
    /// The operand, a `[R, C]` matrix, summed into a vector of the node's
    /// length: [`Along::Rows`], `R` row sums (`C = len a / len`);
    /// [`Along::Cols`], `C` column sums (`C = len`). The transpose of
    /// [`Op::Spread`] along the same side.
    Fold(Handle<Node>, Along),
    /// A vector supplied by whoever evaluates a derived computation, by number:
    /// the tangent or cotangent of a Jacobian-vector product (see
    /// [`crate::derive::products`]). Never part of a step.
    Seed(u32),
}

impl Op {
    /// The operands, in order.
    pub fn operands(&self) -> impl Iterator<Item = Handle<Node>> + use<> {
        let pair = match *self {
            Op::Const(_) | Op::Input(_) | Op::State(_) | Op::Param(_) | Op::Seed(_) | Op::Length(_) => [None, None],
            Op::Unary(_, a)
            | Op::Step(a)
            | Op::Sign(a)
            | Op::MatVec(_, a)
            | Op::MatVecT(_, a)
            | Op::Splat(a)
            | Op::Reduce(_, a)
            | Op::FirstMax(a)
            | Op::Slice(a, _)
            | Op::Pad(a, _)
            | Op::Spread(a, _)
            | Op::Fold(a, _) => [Some(a), None],
            Op::Binary(_, a, b) => [Some(a), Some(b)],
        };
        pair.into_iter().flatten()
    }

    /// The same operation on operands mapped by `f`.
    pub fn map_operands(self, mut f: impl FnMut(Handle<Node>) -> Handle<Node>) -> Op {
        match self {
            Op::Const(_) | Op::Input(_) | Op::State(_) | Op::Param(_) | Op::Seed(_) | Op::Length(_) => self,
            Op::Unary(op, a) => Op::Unary(op, f(a)),
            Op::Reduce(op, a) => Op::Reduce(op, f(a)),
            Op::FirstMax(a) => Op::FirstMax(f(a)),
            Op::Slice(a, start) => Op::Slice(f(a), start),
            Op::Pad(a, start) => Op::Pad(f(a), start),
            Op::Spread(a, along) => Op::Spread(f(a), along),
            Op::Fold(a, along) => Op::Fold(f(a), along),
            Op::Binary(op, a, b) => {
                let a = f(a);
                Op::Binary(op, a, f(b))
            }
            Op::Step(a) => Op::Step(f(a)),
            Op::Sign(a) => Op::Sign(f(a)),
            Op::MatVec(p, a) => Op::MatVec(p, f(a)),
            Op::MatVecT(p, a) => Op::MatVecT(p, f(a)),
            Op::Splat(a) => Op::Splat(f(a)),
        }
    }

    /// The mnemonic of the text form (`add`, `tanh`, `matvec`, ...).
    pub fn mnemonic(&self) -> &'static str {
        match self {
            Op::Const(_) => "const",
            Op::Input(_) => "input",
            Op::State(_) => "state",
            Op::Param(_) => "param",
            Op::Unary(UnaryOp::Neg, _) => "neg",
            Op::Unary(op, _) => op.name(),
            Op::Binary(op, _, _) => binary_mnemonic(*op),
            Op::Step(_) => "step",
            Op::Sign(_) => "sign",
            Op::MatVec(..) => "matvec",
            Op::MatVecT(..) => "matvec.t",
            Op::Splat(_) => "splat",
            Op::Seed(_) => "seed",
            Op::Reduce(ReduceOp::Sum, _) => "reduce.sum",
            Op::Reduce(ReduceOp::Max, _) => "reduce.max",
            Op::FirstMax(_) => "firstmax",
            Op::Length(_) => "length",
            Op::Slice(..) => "slice",
            Op::Pad(..) => "pad",
            Op::Spread(_, Along::Rows) => "spread.rows",
            Op::Spread(_, Along::Cols) => "spread.cols",
            Op::Fold(_, Along::Rows) => "fold.rows",
            Op::Fold(_, Along::Cols) => "fold.cols",
        }
    }
}

/// The reductions of the IR (`mean` is `sum / length`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    /// The sum of the elements.
    Sum,
    /// The largest element; NaN if any element is NaN.
    Max,
}

impl ReduceOp {
    /// The reduction of `values` (see [`crate::ir::semantics`] for `max`).
    pub fn fold(self, values: impl IntoIterator<Item = f64>) -> f64 {
        match self {
            ReduceOp::Sum => values.into_iter().sum(),
            ReduceOp::Max => {
                values.into_iter().fold(f64::NEG_INFINITY, |m, v| super::semantics::binary(BinaryOp::Max, m, v))
            }
        }
    }

    /// The index of the first maximal element of `values` (see [`Op::FirstMax`]).
    pub fn first_max(values: &[f64]) -> usize {
        let mut best = 0;
        for (i, &v) in values.iter().enumerate().skip(1) {
            if v > values[best] {
                best = i;
            }
        }
        best
    }
}

/// The mnemonic of a binary operation (`add`, `sub`, `mul`, `div`, `min`, `max`).
pub fn binary_mnemonic(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "add",
        BinaryOp::Sub => "sub",
        BinaryOp::Mul => "mul",
        BinaryOp::Div => "div",
        BinaryOp::Min => "min",
        BinaryOp::Max => "max",
        BinaryOp::Pow => "pow",
    }
}

impl Node {
    /// Whether an element of the node reads elements of its operand at other
    /// indices (reductions, slices, paddings, spreads, folds): such a node
    /// keeps every state whole in one lane.
    pub fn moves_elements(&self) -> bool {
        matches!(
            self.op,
            Op::Reduce(..) | Op::FirstMax(_) | Op::Slice(..) | Op::Pad(..) | Op::Spread(..) | Op::Fold(..)
        )
    }

    /// The length of the node's value, or `None` for a scalar.
    pub fn size(&self) -> Option<Size> {
        match self.shape {
            Shape::Scalar => None,
            Shape::Vector(size) => Some(size),
        }
    }
}

/// A float constant, compared and hashed by its bits so that nodes can be
/// hash-consed (`0.0` and `-0.0` are distinct literals; so are NaNs with distinct
/// payloads).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Literal(u64);

impl Literal {
    /// The literal holding `value`.
    pub fn new(value: f64) -> Self {
        Literal(value.to_bits())
    }

    /// Its value.
    pub fn value(self) -> f64 {
        f64::from_bits(self.0)
    }
}

impl fmt::Debug for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.value())
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.value())
    }
}

impl std::str::FromStr for Literal {
    type Err = std::num::ParseFloatError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse::<f64>().map(Literal::new)
    }
}
