//! The local derivative rules: for a node `y = op(a, b)`, the maps `d y / d a` and
//! `d y / d b`, built from the node's own value where that is cheaper
//! (`tanh' = 1 - y * y`, `sigmoid' = y * (1 - y)`, `exp' = y`, `sqrt' = 0.5 / y`,
//! `expm1' = y + 1`); a reduction's is a matrix of ones (`sum`), composed with
//! the indicator of the first largest element (`max`).

use super::linear::{Linear, LinearMaps, product};
use crate::arena::Handle;
use crate::check::{Cell, Shape};
use crate::ir::{BinaryOp, Graph, Node, Op, ReduceOp, UnaryOp};

/// One operand of a node and the derivative of the node with respect to it.
pub(crate) type Partial = (Handle<Node>, Option<Handle<Linear>>);

/// The partial derivatives of node `y` with respect to each of its vector
/// operands (scalar operands are constants: their derivatives are not needed).
/// An operand used twice (`x * x`) appears twice.
pub(crate) fn partials(graph: &mut Graph, maps: &mut LinearMaps, cell: &Cell, y: Handle<Node>) -> Vec<Partial> {
    let node = *graph.node(y);
    let mut out: Vec<Partial> = Vec::with_capacity(2);
    let vector = |graph: &Graph, a: Handle<Node>| match graph.node(a).shape {
        Shape::Vector(size) => Some(size),
        Shape::Scalar => None,
    };
    match node.op {
        Op::Const(_)
        | Op::Input(_)
        | Op::State(_)
        | Op::Param(_)
        | Op::Seed(_)
        | Op::Splat(_)
        | Op::Step(_)
        | Op::Sign(_)
        | Op::FirstMax(_)
        | Op::Length(_) => {}
        Op::Slice(a, start) | Op::Pad(a, start) => {
            if let (Some(cols), Shape::Vector(rows)) = (vector(graph, a), node.shape) {
                out.push((a, Some(maps.window(rows, cols, start, matches!(node.op, Op::Pad(..))))));
            }
        }
        Op::Spread(a, along) | Op::Fold(a, along) => {
            if let (Some(cols), Shape::Vector(rows)) = (vector(graph, a), node.shape) {
                out.push((a, Some(maps.spread(rows, cols, along, matches!(node.op, Op::Fold(..))))));
            }
        }
        // d sum(a) / d a = ones; d max(a) / d a = ones ∘ diag(first_max(a)).
        Op::Reduce(op, a) => {
            if let (Some(cols), Shape::Vector(rows)) = (vector(graph, a), node.shape) {
                let ones = Some(maps.ones(rows, cols));
                let map = match op {
                    ReduceOp::Sum => ones,
                    ReduceOp::Max => {
                        let first = graph.add(Node { op: Op::FirstMax(a), shape: Shape::Vector(cols) });
                        let pick = maps.diag(graph, first, cols);
                        maps.compose(graph, ones, pick)
                    }
                };
                out.push((a, map));
            }
        }
        Op::Unary(op, a) => {
            if let Some(size) = vector(graph, a) {
                let derivative = unary_derivative(graph, op, a, y);
                out.push((a, maps.diag(graph, derivative, size)));
            }
        }
        Op::Binary(op, a, b) => {
            let (da, db) = binary_derivatives(graph, op, a, b, y);
            for (operand, derivative) in [(a, da), (b, db)] {
                if let Some(size) = vector(graph, operand) {
                    out.push((operand, maps.diag(graph, derivative, size)));
                }
            }
        }
        Op::MatVec(param, a) | Op::MatVecT(param, a) => {
            if param.index() < cell.params.len() && vector(graph, a).is_some() {
                let transpose = matches!(node.op, Op::MatVecT(..));
                out.push((a, Some(maps.matrix(param, cell.params[param].shape, transpose))));
            }
        }
    }
    out
}

/// `d op(a) / d a` as an elementwise expression, given `y = op(a)`.
fn unary_derivative(graph: &mut Graph, op: UnaryOp, a: Handle<Node>, y: Handle<Node>) -> Handle<Node> {
    let one = graph.constant(1.0);
    match op {
        UnaryOp::Neg => graph.constant(-1.0),
        UnaryOp::Tanh => {
            let square = graph.mul(y, y);
            graph.sub(one, square)
        }
        UnaryOp::Sigmoid => {
            let complement = graph.sub(one, y);
            product(graph, y, complement)
        }
        UnaryOp::Exp => y,
        UnaryOp::Log => graph.div(one, a),
        UnaryOp::Relu => graph.step(a),
        UnaryOp::Softplus => graph.unary(UnaryOp::Sigmoid, a),
        UnaryOp::Silu => {
            // silu' = s + u s (1 - s) = s + y (1 - s), with s = sigmoid(u), y = u s.
            let s = graph.unary(UnaryOp::Sigmoid, a);
            let complement = graph.sub(one, s);
            let term = product(graph, y, complement);
            graph.add_values(s, term)
        }
        UnaryOp::Sqrt => {
            let half = graph.constant(0.5);
            graph.div(half, y)
        }
        UnaryOp::Abs => graph.sign(a),
        UnaryOp::Sin => graph.unary(UnaryOp::Cos, a),
        UnaryOp::Cos => {
            let sin = graph.unary(UnaryOp::Sin, a);
            graph.neg(sin)
        }
        UnaryOp::Log1p => {
            let base = graph.add_values(one, a);
            graph.div(one, base)
        }
        UnaryOp::Expm1 => graph.add_values(y, one),
        UnaryOp::Erf => {
            // erf'(a) = 2 / sqrt(pi) * exp(-a * a).
            let square = graph.mul(a, a);
            let minus_square = graph.neg(square);
            let gauss = graph.unary(UnaryOp::Exp, minus_square);
            let scale = graph.constant(std::f64::consts::FRAC_2_SQRT_PI);
            graph.mul(scale, gauss)
        }
    }
}

/// `(d op(a, b) / d a, d op(a, b) / d b)` as elementwise expressions, given
/// `y = op(a, b)`. At the kinks of `min` and `max` (`a == b`) the derivative goes
/// wholly to `b`, the operand the value is taken from there.
fn binary_derivatives(
    graph: &mut Graph,
    op: BinaryOp,
    a: Handle<Node>,
    b: Handle<Node>,
    y: Handle<Node>,
) -> (Handle<Node>, Handle<Node>) {
    let one = graph.constant(1.0);
    match op {
        BinaryOp::Add => (one, one),
        BinaryOp::Sub => (one, graph.constant(-1.0)),
        BinaryOp::Mul => (b, a),
        BinaryOp::Div => {
            let da = graph.div(one, b);
            let quotient = graph.div(y, b);
            (da, graph.neg(quotient))
        }
        BinaryOp::Min | BinaryOp::Max => {
            // min: a is taken where a < b, i.e. step(b - a) = 1; max: where a > b.
            let gap = if op == BinaryOp::Min { graph.sub(b, a) } else { graph.sub(a, b) };
            let da = graph.step(gap);
            (da, graph.sub(one, da))
        }
        BinaryOp::Pow => {
            // d a^p / d a = p a^(p - 1); the exponent is a constant (no derivative).
            let zero = graph.constant(0.0);
            let da = match graph.constant_value(b) {
                Some(0.0) => zero,
                Some(p) => {
                    let lowered = graph.constant(p - 1.0);
                    let power = graph.binary(BinaryOp::Pow, a, lowered);
                    let scale = graph.constant(p);
                    graph.mul(scale, power)
                }
                None => {
                    // Never made by the checker; the general rule p a^p / a.
                    let quotient = graph.div(y, a);
                    graph.mul(b, quotient)
                }
            };
            (da, zero)
        }
    }
}
