//! Lowering: from a checked [`Cell`] to the step's [`Ir`].
//!
//! `let`s are inlined (a `let` is its value's node), `NAME'` is the node of the
//! state's update, equal subexpressions become one node, and scalar updates and
//! outputs are broadcast with [`Op::Splat`]. Each maximal sum (a tree of `+` and
//! `-` inside one expression) is reassociated so that its state-independent terms
//! come first, in their written order, followed by the state-dependent ones:
//! `a * h + B @ x + b` becomes `(B @ x + b) + a * h`, so the input projection with
//! its bias is one node that [`crate::analyse::hoisting`] can hoist. Only
//! reassociation of sums changes the order of floating-point operations.

use super::Ir;
use super::graph::Graph;
use super::node::{BinaryOp, Node, Op, ReduceOp, Shape};
use crate::arena::Handle;
use crate::check::{Cell, Expr, ExprKind, OutputValue, ParamShape, Reduction, Size};
use crate::error::{Error, ErrorKind};
use crate::span::Span;

/// Lowers `cell` to its step IR. Fails only on a [`Cell`] that breaks its
/// documented invariants (which the checker never produces).
pub fn lower(cell: &Cell) -> Result<Ir, Error> {
    let mut lowering = Lowering { cell, graph: Graph::new(), depends_on_state: Vec::new(), spans: Vec::new() };
    let lowered = lowering.expressions()?;
    let get = |expr: Handle<Expr>, what: &str| -> Result<Handle<Node>, Error> {
        lowered
            .get(expr.index())
            .copied()
            .ok_or_else(|| malformed(cell, format!("{what} refers to a missing expression")))
    };
    let mut updates = Vec::with_capacity(cell.states.len());
    for state in cell.states.values() {
        let value = get(state.update, "an update")?;
        updates.push(lowering.graph.splat(value, state.size));
    }
    let mut outputs = Vec::with_capacity(cell.outputs.len());
    for output in cell.outputs.values() {
        let value = match output.value {
            OutputValue::State(state) => *updates
                .get(state.index())
                .ok_or_else(|| malformed(cell, format!("output `{}` names a missing state", output.name)))?,
            OutputValue::Let(let_) => {
                let value = (let_.index() < cell.lets.len()).then(|| cell.lets[let_].value);
                get(
                    value.ok_or_else(|| malformed(cell, format!("output `{}` names a missing let", output.name)))?,
                    "an output",
                )?
            }
            OutputValue::Expr(expr) => get(expr, "an output")?,
        };
        outputs.push(lowering.graph.splat(value, output.size));
    }
    let live = lowering.graph.reachable(updates.iter().chain(&outputs).copied());
    let (graph, map) = lowering.graph.compact(&live);
    let remap = |h: Handle<Node>| map[h.index()].unwrap_or(h);
    let updates = updates.into_iter().map(remap).collect();
    let outputs = outputs.into_iter().map(remap).collect();
    let step_len = graph.len();
    let mut spans = vec![None; step_len];
    for (old, span) in lowering.spans.iter().enumerate() {
        if let (Some(Some(new)), Some(span)) = (map.get(old), span) {
            spans[new.index()] = Some(*span);
        }
    }
    Ok(Ir { graph, updates, outputs, step_len, spans })
}

fn malformed(cell: &Cell, reason: String) -> Error {
    Error::new(ErrorKind::MalformedCell { cell: cell.name.clone(), reason }, cell.span, "in this cell")
}

struct Lowering<'a> {
    cell: &'a Cell,
    graph: Graph,
    /// Whether each node of `graph` depends on a state's previous value.
    depends_on_state: Vec<bool>,
    /// Where each node of `graph` is first written, if it is an expression's.
    spans: Vec<Option<Span>>,
}

impl Lowering<'_> {
    /// Lowers every expression of the cell in arena order; the node of each.
    fn expressions(&mut self) -> Result<Vec<Handle<Node>>, Error> {
        let cell = self.cell;
        let mut in_sum = vec![false; cell.exprs.len()];
        for expr in cell.exprs.values() {
            if let ExprKind::Binary(BinaryOp::Add | BinaryOp::Sub, a, b) = expr.kind {
                for operand in [a, b] {
                    if let Some(flag) = in_sum.get_mut(operand.index()) {
                        *flag = true;
                    }
                }
            }
        }
        let mut lowered: Vec<Handle<Node>> = Vec::with_capacity(cell.exprs.len());
        for (handle, expr) in cell.exprs.iter() {
            let get = |operand: Handle<Expr>| -> Result<Handle<Node>, Error> {
                lowered
                    .get(operand.index())
                    .copied()
                    .ok_or_else(|| malformed(cell, format!("expression {} uses a later expression", handle.index())))
            };
            let node = match expr.kind {
                ExprKind::Const(value) => self.graph.constant(value),
                ExprKind::Input(input) => self.leaf(Op::Input(input), expr.shape),
                ExprKind::State(state) => self.leaf(Op::State(state), expr.shape),
                ExprKind::Param(param) => self.leaf(Op::Param(param), expr.shape),
                ExprKind::Let(let_) => {
                    let value = (let_.index() < cell.lets.len()).then(|| cell.lets[let_].value);
                    get(value.ok_or_else(|| malformed(cell, "a missing let".into()))?)?
                }
                ExprKind::Next(state) => {
                    let update = (state.index() < cell.states.len()).then(|| cell.states[state].update);
                    get(update.ok_or_else(|| malformed(cell, "a missing state".into()))?)?
                }
                ExprKind::Unary(op, a) => {
                    let a = get(a)?;
                    self.graph.unary(op, a)
                }
                ExprKind::Binary(BinaryOp::Add | BinaryOp::Sub, ..) if !in_sum[handle.index()] => {
                    self.sum(handle, &lowered)?
                }
                ExprKind::Binary(op, a, b) => {
                    let (a, b) = (get(a)?, get(b)?);
                    self.graph.binary(op, a, b)
                }
                ExprKind::Reduce(reduction, a) => {
                    let a = get(a)?;
                    let Shape::Vector(size) = expr.shape else {
                        return Err(malformed(cell, "a reduction that was never given a size".into()));
                    };
                    let Shape::Vector(length) = self.graph.node(a).shape else {
                        return Err(malformed(cell, "a reduction of a scalar".into()));
                    };
                    let op = if reduction == Reduction::Max { ReduceOp::Max } else { ReduceOp::Sum };
                    let reduced = self.graph.add(Node { op: Op::Reduce(op, a), shape: Shape::Vector(size) });
                    if reduction == Reduction::Mean {
                        let length = self.graph.add(Node { op: Op::Length(length), shape: Shape::Scalar });
                        self.graph.div(reduced, length)
                    } else {
                        reduced
                    }
                }
                ExprKind::Slice(a, start) => {
                    let a = get(a)?;
                    // `v[0 : N]` of a `[N]` vector is `v`.
                    if start == Size::Fixed(0) && self.graph.node(a).shape == expr.shape {
                        a
                    } else {
                        self.graph.add(Node { op: Op::Slice(a, start), shape: expr.shape })
                    }
                }
                ExprKind::Concat(a, b) => {
                    let (a, b) = (get(a)?, get(b)?);
                    let Shape::Vector(first) = self.graph.node(a).shape else {
                        return Err(malformed(cell, "a concatenation of a scalar".into()));
                    };
                    let left = self.graph.add(Node { op: Op::Pad(a, Size::Fixed(0)), shape: expr.shape });
                    let right = self.graph.add(Node { op: Op::Pad(b, first), shape: expr.shape });
                    self.graph.add_values(left, right)
                }
                ExprKind::Spread(a, along) => {
                    let a = get(a)?;
                    self.graph.add(Node { op: Op::Spread(a, along), shape: expr.shape })
                }
                ExprKind::Fold(a, along) => {
                    let a = get(a)?;
                    self.graph.add(Node { op: Op::Fold(a, along), shape: expr.shape })
                }
                ExprKind::MatVec(param, x) => {
                    let x = get(x)?;
                    let shape = (param.index() < cell.params.len()).then(|| cell.params[param].shape);
                    let rows = match shape {
                        Some(ParamShape::Matrix { rows, .. }) => rows,
                        Some(ParamShape::Block { size, .. }) => size,
                        _ => return Err(malformed(cell, "`@` of a parameter that is not a matrix".into())),
                    };
                    self.graph.matvec(param, x, rows)
                }
            };
            self.note_new_nodes();
            if self.spans.len() <= node.index() {
                self.spans.resize(node.index() + 1, None);
            }
            self.spans[node.index()].get_or_insert(expr.span);
            lowered.push(node);
        }
        Ok(lowered)
    }

    fn leaf(&mut self, op: Op, shape: Shape) -> Handle<Node> {
        self.graph.add(Node { op, shape })
    }

    /// Extends `depends_on_state` to every node of the graph.
    fn note_new_nodes(&mut self) {
        for index in self.depends_on_state.len()..self.graph.len() {
            let node = self.graph.node(Handle::from_index(index));
            let depends = matches!(node.op, Op::State(_))
                || node.op.operands().any(|operand| self.depends_on_state[operand.index()]);
            self.depends_on_state.push(depends);
        }
    }

    /// The reassociated sum rooted at `root`: its terms (lowered already, as they
    /// precede `root`), state-independent ones first.
    fn sum(&mut self, root: Handle<Expr>, lowered: &[Handle<Node>]) -> Result<Handle<Node>, Error> {
        let cell = self.cell;
        let mut terms: Vec<(Handle<Node>, bool)> = Vec::new();
        let mut stack = vec![(root, false)];
        while let Some((expr, negated)) = stack.pop() {
            let kind = if expr.index() < cell.exprs.len() { &cell.exprs[expr].kind } else { &ExprKind::Const(0.0) };
            match *kind {
                ExprKind::Binary(BinaryOp::Add, a, b) => stack.extend([(b, negated), (a, negated)]),
                ExprKind::Binary(BinaryOp::Sub, a, b) => stack.extend([(b, !negated), (a, negated)]),
                _ => {
                    let node = lowered.get(expr.index()).copied().ok_or_else(|| {
                        malformed(cell, format!("a sum uses expression {} before it is defined", expr.index()))
                    })?;
                    terms.push((node, negated));
                }
            }
        }
        self.note_new_nodes();
        let (independent, dependent): (Vec<_>, Vec<_>) =
            terms.into_iter().partition(|(node, _)| !self.depends_on_state[node.index()]);
        let mut sum: Option<Handle<Node>> = None;
        for (term, negated) in independent.into_iter().chain(dependent) {
            sum = Some(match (sum, negated) {
                (None, false) => term,
                (None, true) => self.graph.neg(term),
                (Some(acc), false) => self.graph.add_values(acc, term),
                (Some(acc), true) => self.graph.sub(acc, term),
            });
            self.note_new_nodes();
        }
        sum.ok_or_else(|| malformed(cell, "an empty sum".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check_source;

    fn lowered(source: &str) -> (Cell, Ir) {
        let cell = check_source(source).expect("checks").remove(0);
        let ir = lower(&cell).expect("lowers");
        (cell, ir)
    }

    #[test]
    fn sums_put_state_independent_terms_first() {
        let (cell, ir) = lowered(
            "cell c { dim H; input x: [H]; state h: [H]; param W: [H, H]; param a: [H]; param b: [H];
             h' = a * h + W @ x - b; output h; }",
        );
        let text = ir.display(&cell).to_string();
        // (W @ x - b) + a * h: the projection and its bias form one node.
        let update = ir.graph.node(ir.updates[0]);
        let Op::Binary(BinaryOp::Add, projection, product) = update.op else { panic!("{text}") };
        assert!(matches!(ir.graph.node(projection).op, Op::Binary(BinaryOp::Sub, ..)), "{text}");
        assert!(matches!(ir.graph.node(product).op, Op::Binary(BinaryOp::Mul, ..)), "{text}");
    }

    #[test]
    fn step_nodes_know_where_they_are_written() {
        let source = "cell c { dim H; input x: [H]; state h: [H]; param W: [H, H]; param a: [H];
             let p = W @ x;
             h' = tanh(a * h + p); output h; }";
        let (_, ir) = lowered(source);
        let text = |node: Handle<Node>| ir.span(node).map(|span| &source[span.start as usize..span.end as usize]);
        let product = ir.graph.iter().find(|(_, n)| matches!(n.op, Op::MatVec(..))).expect("a product").0;
        assert_eq!(text(product), Some("W @ x"));
        let tanh = ir.updates[0];
        assert_eq!(text(tanh), Some("tanh(a * h + p)"));
        // Derivative expressions (beyond the step) have no place.
        assert_eq!(ir.spans.len(), ir.step_len);
        assert_eq!(ir.span(Handle::from_index(ir.step_len)), None);
    }

    #[test]
    fn lets_and_next_values_are_shared_nodes_and_scalars_are_splatted() {
        let (cell, ir) = lowered(
            "cell c { dim H; input x: [H]; state c: [H]; state h: [H];
             let t = tanh(x + h);
             c' = t * c;
             h' = 2 * 3;
             output y = c' + tanh(x + h);
             output h; }",
        );
        let text = ir.display(&cell).to_string();
        let Op::Binary(BinaryOp::Add, next_c, t) = ir.graph.node(ir.outputs[0]).op else { panic!("{text}") };
        assert_eq!(next_c, ir.updates[0], "{text}");
        assert!(matches!(ir.graph.node(ir.updates[0]).op, Op::Binary(BinaryOp::Mul, first, _) if first == t), "{text}");
        let Op::Splat(six) = ir.graph.node(ir.updates[1]).op else { panic!("{text}") };
        assert_eq!(ir.graph.constant_value(six), Some(6.0), "{text}");
        assert_eq!(ir.outputs[1], ir.updates[1]);
        assert_eq!(ir.step_len, ir.graph.len());
    }
}
