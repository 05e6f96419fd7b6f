//! The e-graph's language: the elementwise operations of the IR, constants, and
//! opaque references to IR nodes (step values, free to reuse), with a
//! constant-folding analysis that uses the IR's own [`semantics`].

use std::fmt;
use std::str::FromStr;

use egg::{Analysis, DidMerge, EGraph, Id, Language, define_language};

use crate::ir::{BinaryOp, Literal, Op, UnaryOp, semantics};

/// A reference to an IR node, by index: `v12`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ValueRef(pub(crate) u32);

impl fmt::Display for ValueRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

impl FromStr for ValueRef {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        text.strip_prefix('v').and_then(|n| n.parse().ok()).map(ValueRef).ok_or(())
    }
}

define_language! {
    /// Elementwise expressions over constants and IR values.
    pub(crate) enum Term {
        "+" = Add([Id; 2]),
        "-" = Sub([Id; 2]),
        "*" = Mul([Id; 2]),
        "/" = Div([Id; 2]),
        "min" = Min([Id; 2]),
        "max" = Max([Id; 2]),
        "pow" = Pow([Id; 2]),
        "neg" = Neg([Id; 1]),
        "tanh" = Tanh([Id; 1]),
        "sigmoid" = Sigmoid([Id; 1]),
        "exp" = Exp([Id; 1]),
        "log" = Log([Id; 1]),
        "relu" = Relu([Id; 1]),
        "softplus" = Softplus([Id; 1]),
        "silu" = Silu([Id; 1]),
        "sqrt" = Sqrt([Id; 1]),
        "abs" = Abs([Id; 1]),
        "sin" = Sin([Id; 1]),
        "cos" = Cos([Id; 1]),
        "log1p" = Log1p([Id; 1]),
        "expm1" = Expm1([Id; 1]),
        "erf" = Erf([Id; 1]),
        "step" = Step([Id; 1]),
        "sign" = Sign([Id; 1]),
        Num(Literal),
        Value(ValueRef),
    }
}

/// What a term computes, in the IR's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TermOp {
    Unary(UnaryOp),
    Binary(BinaryOp),
    Step,
    Sign,
}

impl TermOp {
    /// The operation of an elementwise IR operation; `None` for the others
    /// (leaves, products, broadcasts).
    pub(crate) fn of(op: &Op) -> Option<TermOp> {
        match *op {
            Op::Unary(op, _) => Some(TermOp::Unary(op)),
            Op::Binary(op, _, _) => Some(TermOp::Binary(op)),
            Op::Step(_) => Some(TermOp::Step),
            Op::Sign(_) => Some(TermOp::Sign),
            _ => None,
        }
    }
}

impl Term {
    /// The term for an elementwise IR operation on children `ids`, or `None` for
    /// an operation the e-graph treats as opaque.
    pub(crate) fn from_op(op: &Op, ids: &[Id]) -> Option<Term> {
        let one = |i: usize| ids.get(i).copied();
        Some(match *op {
            Op::Const(literal) => Term::Num(literal),
            Op::Unary(op, _) => {
                let a = [one(0)?];
                match op {
                    UnaryOp::Neg => Term::Neg(a),
                    UnaryOp::Tanh => Term::Tanh(a),
                    UnaryOp::Sigmoid => Term::Sigmoid(a),
                    UnaryOp::Exp => Term::Exp(a),
                    UnaryOp::Log => Term::Log(a),
                    UnaryOp::Relu => Term::Relu(a),
                    UnaryOp::Softplus => Term::Softplus(a),
                    UnaryOp::Silu => Term::Silu(a),
                    UnaryOp::Sqrt => Term::Sqrt(a),
                    UnaryOp::Abs => Term::Abs(a),
                    UnaryOp::Sin => Term::Sin(a),
                    UnaryOp::Cos => Term::Cos(a),
                    UnaryOp::Log1p => Term::Log1p(a),
                    UnaryOp::Expm1 => Term::Expm1(a),
                    UnaryOp::Erf => Term::Erf(a),
                }
            }
            Op::Binary(op, _, _) => {
                let ab = [one(0)?, one(1)?];
                match op {
                    BinaryOp::Add => Term::Add(ab),
                    BinaryOp::Sub => Term::Sub(ab),
                    BinaryOp::Mul => Term::Mul(ab),
                    BinaryOp::Div => Term::Div(ab),
                    BinaryOp::Min => Term::Min(ab),
                    BinaryOp::Max => Term::Max(ab),
                    BinaryOp::Pow => Term::Pow(ab),
                }
            }
            Op::Step(_) => Term::Step([one(0)?]),
            Op::Sign(_) => Term::Sign([one(0)?]),
            Op::Input(_)
            | Op::State(_)
            | Op::Param(_)
            | Op::Seed(_)
            | Op::MatVec(..)
            | Op::MatVecT(..)
            | Op::Splat(_)
            | Op::Reduce(..)
            | Op::FirstMax(_)
            | Op::Length(_)
            | Op::Slice(..)
            | Op::Pad(..)
            | Op::Spread(..)
            | Op::Fold(..) => {
                return None;
            }
        })
    }

    /// The operation of a term with children, or `None` for a leaf.
    pub(crate) fn op(&self) -> Option<TermOp> {
        Some(match self {
            Term::Add(_) => TermOp::Binary(BinaryOp::Add),
            Term::Sub(_) => TermOp::Binary(BinaryOp::Sub),
            Term::Mul(_) => TermOp::Binary(BinaryOp::Mul),
            Term::Div(_) => TermOp::Binary(BinaryOp::Div),
            Term::Min(_) => TermOp::Binary(BinaryOp::Min),
            Term::Max(_) => TermOp::Binary(BinaryOp::Max),
            Term::Pow(_) => TermOp::Binary(BinaryOp::Pow),
            Term::Neg(_) => TermOp::Unary(UnaryOp::Neg),
            Term::Tanh(_) => TermOp::Unary(UnaryOp::Tanh),
            Term::Sigmoid(_) => TermOp::Unary(UnaryOp::Sigmoid),
            Term::Exp(_) => TermOp::Unary(UnaryOp::Exp),
            Term::Log(_) => TermOp::Unary(UnaryOp::Log),
            Term::Relu(_) => TermOp::Unary(UnaryOp::Relu),
            Term::Softplus(_) => TermOp::Unary(UnaryOp::Softplus),
            Term::Silu(_) => TermOp::Unary(UnaryOp::Silu),
            Term::Sqrt(_) => TermOp::Unary(UnaryOp::Sqrt),
            Term::Abs(_) => TermOp::Unary(UnaryOp::Abs),
            Term::Sin(_) => TermOp::Unary(UnaryOp::Sin),
            Term::Cos(_) => TermOp::Unary(UnaryOp::Cos),
            Term::Log1p(_) => TermOp::Unary(UnaryOp::Log1p),
            Term::Expm1(_) => TermOp::Unary(UnaryOp::Expm1),
            Term::Erf(_) => TermOp::Unary(UnaryOp::Erf),
            Term::Step(_) => TermOp::Step,
            Term::Sign(_) => TermOp::Sign,
            Term::Num(_) | Term::Value(_) => return None,
        })
    }
}

/// The constant-folding analysis: each class knows its value when it is a
/// finite constant, and then holds the constant as a leaf.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ConstantFold;

impl Analysis<Term> for ConstantFold {
    type Data = Option<Literal>;

    fn make(egraph: &mut EGraph<Term, Self>, enode: &Term, _id: Id) -> Self::Data {
        let value = |i: usize| enode.children().get(i).and_then(|&c| egraph[c].data).map(Literal::value);
        let folded = match enode {
            Term::Num(literal) => return Some(*literal),
            Term::Value(_) => return None,
            term => match term.op()? {
                TermOp::Unary(op) => semantics::unary(op, value(0)?),
                TermOp::Binary(op) => semantics::binary(op, value(0)?, value(1)?),
                TermOp::Step => semantics::step(value(0)?),
                TermOp::Sign => semantics::sign(value(0)?),
            },
        };
        folded.is_finite().then(|| Literal::new(folded))
    }

    fn merge(&mut self, to: &mut Self::Data, from: Self::Data) -> DidMerge {
        match (*to, from) {
            (None, Some(value)) => {
                *to = Some(value);
                DidMerge(true, false)
            }
            (Some(_), None) => DidMerge(false, true),
            // Two different constants can only meet through an identity that is
            // exact in real arithmetic only; keep the first.
            _ => DidMerge(false, false),
        }
    }

    fn modify(egraph: &mut EGraph<Term, Self>, id: Id) {
        if let Some(literal) = egraph[id].data {
            let constant = egraph.add(Term::Num(literal));
            egraph.union(id, constant);
        }
    }
}
