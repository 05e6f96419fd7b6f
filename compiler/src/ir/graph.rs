//! The hash-consed node store: every distinct node once, operands first.

use std::collections::HashMap;

use super::node::{BinaryOp, Literal, Node, Op, Shape, UnaryOp};
use super::semantics;
use crate::arena::{Arena, Handle};
use crate::check::{Param, Size};

/// The nodes of one step, with structural sharing.
///
/// Invariants: operands precede their users (so arena order is a topological
/// order); no two nodes are equal; a node's shape is the shape its operation
/// yields. Constructors fold operations on constants and the exact identities
/// `x + 0`, `0 + x`, `x - 0`, `x * 1`, `1 * x` and `x / 1` (exact in IEEE arithmetic);
/// nothing else is rewritten here.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    nodes: Arena<Node>,
    dedup: HashMap<Node, Handle<Node>>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there is no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The nodes with their handles, operands first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (Handle<Node>, &Node)> + '_ {
        self.nodes.iter()
    }

    /// The node `handle` points at.
    pub fn node(&self, handle: Handle<Node>) -> &Node {
        &self.nodes[handle]
    }

    /// The handle of `node` if the graph holds it.
    pub fn find(&self, node: &Node) -> Option<Handle<Node>> {
        self.dedup.get(node).copied()
    }

    /// The value of `handle` if it is a constant.
    pub fn constant_value(&self, handle: Handle<Node>) -> Option<f64> {
        match self.nodes[handle].op {
            Op::Const(literal) => Some(literal.value()),
            _ => None,
        }
    }

    /// Whether `handle` is the constant `value`.
    pub fn is_constant(&self, handle: Handle<Node>, value: f64) -> bool {
        self.constant_value(handle) == Some(value)
    }

    /// Adds `node` as it is (no folding), or finds it.
    ///
    /// The caller keeps the invariants: operands are handles of this graph and the
    /// shape is the one the operation yields.
    pub fn add(&mut self, node: Node) -> Handle<Node> {
        if let Some(&handle) = self.dedup.get(&node) {
            return handle;
        }
        let handle = self.nodes.append(node);
        self.dedup.insert(node, handle);
        handle
    }

    /// The scalar constant `value`.
    pub fn constant(&mut self, value: f64) -> Handle<Node> {
        self.add(Node { op: Op::Const(Literal::new(value)), shape: Shape::Scalar })
    }

    /// `op(a)`, folded if `a` is a constant.
    pub fn unary(&mut self, op: UnaryOp, a: Handle<Node>) -> Handle<Node> {
        if let Some(x) = self.constant_value(a) {
            return self.constant(semantics::unary(op, x));
        }
        let shape = self.nodes[a].shape;
        self.add(Node { op: Op::Unary(op, a), shape })
    }

    /// `-a`.
    pub fn neg(&mut self, a: Handle<Node>) -> Handle<Node> {
        self.unary(UnaryOp::Neg, a)
    }

    /// `step(a)`, folded if `a` is a constant.
    pub fn step(&mut self, a: Handle<Node>) -> Handle<Node> {
        if let Some(x) = self.constant_value(a) {
            return self.constant(semantics::step(x));
        }
        let shape = self.nodes[a].shape;
        self.add(Node { op: Op::Step(a), shape })
    }

    /// `sign(a)`, folded if `a` is a constant.
    pub fn sign(&mut self, a: Handle<Node>) -> Handle<Node> {
        if let Some(x) = self.constant_value(a) {
            return self.constant(semantics::sign(x));
        }
        let shape = self.nodes[a].shape;
        self.add(Node { op: Op::Sign(a), shape })
    }

    /// The shape of `op(a, b)`: a vector operand's shape, else scalar. `None` if
    /// both are vectors of different lengths.
    pub fn binary_shape(&self, a: Handle<Node>, b: Handle<Node>) -> Option<Shape> {
        match (self.nodes[a].shape, self.nodes[b].shape) {
            (Shape::Scalar, other) | (other, Shape::Scalar) => Some(other),
            (sa, sb) if sa == sb => Some(sa),
            _ => None,
        }
    }

    /// `op(a, b)`, folded if both are constants or if an exact identity applies.
    /// Operands of different vector lengths are the caller's error; the result then
    /// takes `a`'s shape.
    pub fn binary(&mut self, op: BinaryOp, a: Handle<Node>, b: Handle<Node>) -> Handle<Node> {
        let (ca, cb) = (self.constant_value(a), self.constant_value(b));
        if let (Some(x), Some(y)) = (ca, cb) {
            return self.constant(semantics::binary(op, x, y));
        }
        let identity = match op {
            BinaryOp::Add if cb == Some(0.0) => Some(a),
            BinaryOp::Add if ca == Some(0.0) => Some(b),
            BinaryOp::Sub if cb == Some(0.0) => Some(a),
            BinaryOp::Mul if cb == Some(1.0) => Some(a),
            BinaryOp::Mul if ca == Some(1.0) => Some(b),
            BinaryOp::Div if cb == Some(1.0) => Some(a),
            BinaryOp::Pow if cb == Some(1.0) => Some(a),
            _ => None,
        };
        if let Some(same) = identity {
            return same;
        }
        let shape = self.binary_shape(a, b).unwrap_or(self.nodes[a].shape);
        self.add(Node { op: Op::Binary(op, a, b), shape })
    }

    /// `a + b`.
    pub fn add_values(&mut self, a: Handle<Node>, b: Handle<Node>) -> Handle<Node> {
        self.binary(BinaryOp::Add, a, b)
    }

    /// `a - b`.
    pub fn sub(&mut self, a: Handle<Node>, b: Handle<Node>) -> Handle<Node> {
        self.binary(BinaryOp::Sub, a, b)
    }

    /// `a * b`.
    pub fn mul(&mut self, a: Handle<Node>, b: Handle<Node>) -> Handle<Node> {
        self.binary(BinaryOp::Mul, a, b)
    }

    /// `a / b`.
    pub fn div(&mut self, a: Handle<Node>, b: Handle<Node>) -> Handle<Node> {
        self.binary(BinaryOp::Div, a, b)
    }

    /// `param @ x`, a vector of length `rows`.
    pub fn matvec(&mut self, param: Handle<Param>, x: Handle<Node>, rows: Size) -> Handle<Node> {
        self.add(Node { op: Op::MatVec(param, x), shape: Shape::Vector(rows) })
    }

    /// `param^T @ x`, a vector of length `cols`.
    pub fn matvec_t(&mut self, param: Handle<Param>, x: Handle<Node>, cols: Size) -> Handle<Node> {
        self.add(Node { op: Op::MatVecT(param, x), shape: Shape::Vector(cols) })
    }

    /// `a` as a vector of length `size`: `a` itself if it is a vector already.
    pub fn splat(&mut self, a: Handle<Node>, size: Size) -> Handle<Node> {
        match self.nodes[a].shape {
            Shape::Vector(_) => a,
            Shape::Scalar => self.add(Node { op: Op::Splat(a), shape: Shape::Vector(size) }),
        }
    }

    /// Which nodes `roots` depend on (the roots included), by handle index.
    pub fn reachable(&self, roots: impl IntoIterator<Item = Handle<Node>>) -> Vec<bool> {
        let mut live = vec![false; self.len()];
        for root in roots {
            live[root.index()] = true;
        }
        for index in (0..self.len()).rev() {
            if live[index] {
                for operand in self.nodes[Handle::from_index(index)].op.operands() {
                    live[operand.index()] = true;
                }
            }
        }
        live
    }

    /// A copy holding only the nodes marked in `keep` (which must be closed under
    /// operands), in the same order, and the map from old handles to new ones.
    pub fn compact(&self, keep: &[bool]) -> (Graph, Vec<Option<Handle<Node>>>) {
        let mut graph = Graph::new();
        let mut map: Vec<Option<Handle<Node>>> = vec![None; self.len()];
        for (handle, node) in self.nodes.iter() {
            if !keep.get(handle.index()).copied().unwrap_or(false) {
                continue;
            }
            let mut complete = true;
            let op = node.op.map_operands(|operand| match map[operand.index()] {
                Some(new) => new,
                None => {
                    complete = false;
                    operand
                }
            });
            if complete {
                map[handle.index()] = Some(graph.add(Node { op, shape: node.shape }));
            }
        }
        (graph, map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_shared_and_constants_folded() {
        let mut graph = Graph::new();
        let two = graph.constant(2.0);
        let three = graph.constant(3.0);
        let six = graph.mul(two, three);
        assert_eq!(graph.constant_value(six), Some(6.0));
        let x = graph.add(Node { op: Op::Splat(two), shape: Shape::Vector(Size::Fixed(4)) });
        let a = graph.mul(x, three);
        let b = graph.mul(x, three);
        assert_eq!(a, b);
        let one = graph.constant(1.0);
        assert_eq!(graph.mul(x, one), x);
        let zero = graph.constant(0.0);
        assert_eq!(graph.add_values(zero, x), x);
        assert_ne!(graph.mul(x, zero), zero, "x * 0 is not folded: it is NaN for x = inf");
        assert_eq!(graph.node(a).shape, Shape::Vector(Size::Fixed(4)));
    }

    #[test]
    fn compaction_keeps_order_and_drops_the_dead() {
        let mut graph = Graph::new();
        let size = Size::Fixed(2);
        let c = graph.constant(0.5);
        let dead = graph.constant(7.0);
        let v = graph.splat(c, size);
        let t = graph.unary(UnaryOp::Tanh, v);
        let live = graph.reachable([t]);
        assert!(!live[dead.index()]);
        let (small, map) = graph.compact(&live);
        assert_eq!(small.len(), 3);
        let new_t = map[t.index()].expect("kept");
        assert_eq!(small.node(new_t).op, Op::Unary(UnaryOp::Tanh, map[v.index()].expect("kept")));
    }
}
