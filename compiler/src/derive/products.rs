//! Jacobian-vector products as IR: code that applies a derivative map, or its
//! transpose, to a vector, for back ends that never form the Jacobian.
//!
//! [`transpose_apply`] emits `M^T v` (a vector-Jacobian product, what a backward
//! pass computes: `lambda_t = J^T lambda_{t+1} + g_t`), [`apply`] emits `M v`
//! (a Jacobian-vector product). Diagonals become elementwise products, a matrix
//! parameter `W` becomes `W @ v` or `W^T @ v` ([`Op::MatVecT`]), a matrix of
//! ones the sum of `v` broadcast ([`Op::Reduce`]), compositions
//! apply their factors in turn and sums add. Each (map, vector) pair is emitted
//! once, and nodes are hash-consed, so the transposed products of the
//! derivatives of one result with respect to every state, input and parameter
//! share their work, as reverse-mode differentiation does. Vectors from outside
//! (the `lambda`) are [`Op::Seed`] nodes made by [`seed`].

use std::collections::HashMap;

use super::linear::{Linear, LinearMaps};
use crate::arena::Handle;
use crate::check::{Cell, ParamShape, Shape, Size};
use crate::ir::{Graph, Node, Op, ReduceOp};

/// A seed vector: the value numbered `number`, of length `size`, supplied when
/// the computation is evaluated.
pub fn seed(graph: &mut Graph, number: u32, size: Size) -> Handle<Node> {
    graph.add(Node { op: Op::Seed(number), shape: Shape::Vector(size) })
}

/// Emits `map v`; `size` is the length of the result (used when `map` is zero).
pub fn apply(
    graph: &mut Graph,
    cell: &Cell,
    maps: &LinearMaps,
    map: Option<Handle<Linear>>,
    vector: Handle<Node>,
    size: Size,
) -> Handle<Node> {
    emit(graph, cell, maps, map, vector, size, false)
}

/// Emits `map^T v`; `size` is the length of the result (used when `map` is
/// zero).
pub fn transpose_apply(
    graph: &mut Graph,
    cell: &Cell,
    maps: &LinearMaps,
    map: Option<Handle<Linear>>,
    vector: Handle<Node>,
    size: Size,
) -> Handle<Node> {
    emit(graph, cell, maps, map, vector, size, true)
}

enum Task {
    /// Push `map v` (or `map^T v`) on the value stack.
    Apply(Handle<Linear>, Handle<Node>),
    /// Pop a vector, push `map` applied to it.
    ApplyToTop(Handle<Linear>),
    /// Pop two vectors, push their sum.
    AddTop,
    /// Remember the top of the value stack as the product of this pair.
    Remember(Handle<Linear>, Handle<Node>),
}

fn emit(
    graph: &mut Graph,
    cell: &Cell,
    maps: &LinearMaps,
    map: Option<Handle<Linear>>,
    vector: Handle<Node>,
    size: Size,
    transpose: bool,
) -> Handle<Node> {
    let Some(map) = map else {
        let zero = graph.constant(0.0);
        return graph.splat(zero, size);
    };
    let mut done: HashMap<(Handle<Linear>, Handle<Node>), Handle<Node>> = HashMap::new();
    let mut tasks = vec![Task::Apply(map, vector)];
    let mut values: Vec<Handle<Node>> = Vec::new();
    while let Some(task) = tasks.pop() {
        match task {
            Task::Apply(map, v) => {
                if let Some(&known) = done.get(&(map, v)) {
                    values.push(known);
                    continue;
                }
                match *maps.get(map) {
                    Linear::Diag { diag, .. } => values.push(graph.mul(diag, v)),
                    Linear::Select { rows, cols, start } | Linear::Embed { rows, cols, start } => {
                        // A selection's transpose embeds, an embedding's selects.
                        let embed = matches!(maps.get(map), Linear::Embed { .. }) != transpose;
                        let length = if transpose { cols } else { rows };
                        let op = if embed { Op::Pad(v, start) } else { Op::Slice(v, start) };
                        values.push(graph.add(Node { op, shape: Shape::Vector(length) }));
                    }
                    Linear::Spread { rows, cols, along } | Linear::Fold { rows, cols, along } => {
                        // A spreading's transpose folds, a folding's spreads.
                        let fold = matches!(maps.get(map), Linear::Fold { .. }) != transpose;
                        let length = if transpose { cols } else { rows };
                        let op = if fold { Op::Fold(v, along) } else { Op::Spread(v, along) };
                        values.push(graph.add(Node { op, shape: Shape::Vector(length) }));
                    }
                    Linear::Ones { rows, cols } => {
                        let length = if transpose { cols } else { rows };
                        values.push(graph.add(Node { op: Op::Reduce(ReduceOp::Sum, v), shape: Shape::Vector(length) }));
                    }
                    Linear::Matrix(param) | Linear::MatrixT(param) => {
                        let transposed = transpose != matches!(maps.get(map), Linear::MatrixT(_));
                        values.push(product(graph, cell, param, v, transposed));
                    }
                    // (a b) v = a (b v); (a b)^T v = b^T (a^T v).
                    Linear::Compose(a, b) => {
                        let (first, then) = if transpose { (a, b) } else { (b, a) };
                        tasks.extend([Task::Remember(map, v), Task::ApplyToTop(then), Task::Apply(first, v)]);
                        continue;
                    }
                    Linear::Sum(a, b) => {
                        tasks.extend([Task::Remember(map, v), Task::AddTop, Task::Apply(b, v), Task::Apply(a, v)]);
                        continue;
                    }
                }
                if let Some(&top) = values.last() {
                    done.insert((map, v), top);
                }
            }
            Task::ApplyToTop(map) => {
                if let Some(top) = values.pop() {
                    tasks.push(Task::Apply(map, top));
                }
            }
            Task::AddTop => {
                if let (Some(b), Some(a)) = (values.pop(), values.pop()) {
                    values.push(graph.add_values(a, b));
                }
            }
            Task::Remember(map, v) => {
                if let Some(&top) = values.last() {
                    done.insert((map, v), top);
                }
            }
        }
    }
    values.pop().unwrap_or(vector)
}

/// `param @ v`, or `param^T @ v` when `transposed`.
fn product(
    graph: &mut Graph,
    cell: &Cell,
    param: Handle<crate::check::Param>,
    v: Handle<Node>,
    transposed: bool,
) -> Handle<Node> {
    let shape = (param.index() < cell.params.len()).then(|| cell.params[param].shape);
    let (rows, cols) = match shape {
        Some(ParamShape::Matrix { rows, cols }) => (rows, cols),
        Some(ParamShape::Block { size, .. } | ParamShape::Vector(size)) => (size, size),
        None => return v,
    };
    if transposed { graph.matvec_t(param, v, cols) } else { graph.matvec(param, v, rows) }
}
