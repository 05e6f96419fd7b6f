//! What the compiler proves about a checked cell, in words for an editor: the
//! structure of its state Jacobian and the reason (from `analyse::structure`),
//! the number of unknowns per channel group, and the work hoisted out of the
//! recurrence (from `analyse::hoist` and `analyse::projections`). Derivation
//! costs milliseconds, so facts are cached by the cell's text: an edit elsewhere
//! in the file does not derive a cell again.

use std::collections::HashMap;
use std::rc::Rc;

use rnnc::compiler::analyse::{JacobianStructure, ProjectionKind};
use rnnc::compiler::arena::Handle;
use rnnc::compiler::check::{Cell, Size};
use rnnc::compiler::ir::{BinaryOp, Graph, Node, Op, ReduceOp, UnaryOp};
use rnnc::compiler::{Derived, derive_cell};

/// The most cells whose facts are kept.
const CACHE_CELLS: usize = 64;

/// The proved facts of one cell.
#[derive(Clone, Debug, PartialEq)]
pub struct CellFacts {
    /// The structure of `d state' / d state`.
    pub structure: JacobianStructure,
    /// Why, in one sentence (the compiler's).
    pub reason: String,
    /// The states' total length, as written: `H`, `2H`, `H + 16`, `24`.
    pub unknowns: String,
    /// Whether the states are interleaved channel by channel.
    pub interleaved: bool,
    /// Each hoisted value, as an expression (`Bz @ x + bz`).
    pub hoisted: Vec<String>,
    /// Each input projection (`Bz @ x`) and how it is computed.
    pub projections: Vec<String>,
}

impl CellFacts {
    /// The facts of a derived cell.
    pub fn of(derived: &Derived) -> CellFacts {
        let cell = &derived.cell;
        let graph = &derived.ir.graph;
        let projections = derived
            .projections
            .iter()
            .map(|p| {
                let how = match p.kind {
                    ProjectionKind::Dense => "a dense matrix product".to_owned(),
                    ProjectionKind::Block { block } => format!("a grouped product of {block} x {block} blocks"),
                };
                format!("{} @ {} ({how})", cell.params[p.param].name, cell.inputs[p.input].name)
            })
            .collect();
        CellFacts {
            structure: derived.structure(),
            reason: derived.jacobian.reason.clone(),
            unknowns: unknowns(cell),
            interleaved: derived.jacobian.interleaved,
            hoisted: derived.hoisting.nodes.iter().map(|&node| expression(cell, graph, node)).collect(),
            projections,
        }
    }

    /// The one-line summary shown on the cell: `diagonal Jacobian`,
    /// `block-diagonal Jacobian, K = 4`, `dense Jacobian (2H unknowns)`.
    pub fn label(&self) -> String {
        let structure = match self.structure {
            JacobianStructure::Diagonal => "diagonal Jacobian".to_owned(),
            JacobianStructure::BlockDiagonal { block } => format!("block-diagonal Jacobian, K = {block}"),
            JacobianStructure::Dense => format!("dense Jacobian ({} unknowns)", self.unknowns),
        };
        match self.hoisted.len() {
            0 => structure,
            1 => format!("{structure} · 1 value hoisted"),
            n => format!("{structure} · {n} values hoisted"),
        }
    }
}

/// Derived facts by cell text.
#[derive(Debug, Default)]
pub struct FactsCache {
    cells: HashMap<String, Rc<Result<CellFacts, String>>>,
}

impl FactsCache {
    /// The facts of `cell` (whose source text is `text`), or why it could not
    /// be derived (the compiler's error message).
    pub fn facts(&mut self, text: &str, cell: &Cell) -> Rc<Result<CellFacts, String>> {
        if let Some(facts) = self.cells.get(text) {
            return facts.clone();
        }
        if self.cells.len() >= CACHE_CELLS {
            self.cells.clear();
        }
        let facts = Rc::new(derive_cell(cell).map(|derived| CellFacts::of(&derived)).map_err(|e| e.to_string()));
        self.cells.insert(text.to_owned(), facts.clone());
        facts
    }
}

/// The states' total length: equal sizes counted (`2H`), then summed.
fn unknowns(cell: &Cell) -> String {
    let mut fixed = 0u64;
    let mut dims: Vec<(String, u64)> = Vec::new();
    for state in cell.states.values() {
        if state.size.matrix().is_some() {
            // `D * N`: a matrix state's elements, counted as written.
            let name = state.size.text(&cell.dims).replace(", ", " * ");
            match dims.iter_mut().find(|(d, _)| *d == name) {
                Some((_, count)) => *count += 1,
                None => dims.push((name, 1)),
            }
            continue;
        }
        match state.size.parts() {
            (n, None) => fixed = fixed.saturating_add(n),
            (factor, Some(dim)) => {
                let name = &cell.dims[dim].name;
                match dims.iter_mut().find(|(d, _)| d == name) {
                    Some((_, count)) => *count += factor,
                    None => dims.push((name.clone(), factor)),
                }
            }
        }
    }
    let mut terms: Vec<String> =
        dims.into_iter().map(|(name, count)| if count == 1 { name } else { format!("{count}{name}") }).collect();
    if fixed > 0 || terms.is_empty() {
        terms.push(fixed.to_string());
    }
    terms.join(" + ")
}

/// The deepest a hoisted expression is written before `...`.
const MAX_DEPTH: usize = 12;

/// A step node as an expression in the language's syntax.
fn expression(cell: &Cell, graph: &Graph, node: Handle<Node>) -> String {
    let mut text = String::new();
    write_node(cell, graph, node, 0, &mut text);
    text
}

/// Binding strength, as in the grammar: `+ -`, `* /`, unary `-`, `@`, atoms.
fn precedence(op: &Op) -> u8 {
    match op {
        Op::Binary(BinaryOp::Add | BinaryOp::Sub, ..) => 1,
        Op::Binary(BinaryOp::Mul | BinaryOp::Div, ..) => 2,
        Op::Unary(UnaryOp::Neg, _) => 3,
        Op::MatVec(..) | Op::MatVecT(..) => 4,
        _ => 5,
    }
}

fn write_node(cell: &Cell, graph: &Graph, node: Handle<Node>, depth: usize, out: &mut String) {
    if depth > MAX_DEPTH {
        out.push_str("...");
        return;
    }
    let op = graph.node(node).op;
    let operand = |out: &mut String, operand: Handle<Node>, at_least: u8| {
        let parenthesise = precedence(&graph.node(operand).op) < at_least;
        if parenthesise {
            out.push('(');
        }
        write_node(cell, graph, operand, depth + 1, out);
        if parenthesise {
            out.push(')');
        }
    };
    match op {
        Op::Const(literal) => out.push_str(&format_number(literal.value())),
        Op::Input(input) => out.push_str(&cell.inputs[input].name),
        Op::State(state) => out.push_str(&cell.states[state].name),
        Op::Param(param) => out.push_str(&cell.params[param].name),
        Op::Seed(number) => out.push_str(&format!("seed{number}")),
        Op::Splat(a) => write_node(cell, graph, a, depth + 1, out),
        Op::Unary(UnaryOp::Neg, a) => {
            out.push('-');
            operand(out, a, 3);
        }
        Op::Unary(function, a) => call(out, function.name(), &[a], cell, graph, depth),
        Op::Step(a) => call(out, "step", &[a], cell, graph, depth),
        Op::Sign(a) => call(out, "sign", &[a], cell, graph, depth),
        Op::Reduce(ReduceOp::Sum, a) => call(out, "sum", &[a], cell, graph, depth),
        Op::Reduce(ReduceOp::Max, a) => call(out, "max", &[a], cell, graph, depth),
        Op::FirstMax(a) => call(out, "first_max", &[a], cell, graph, depth),
        Op::Length(size) => out.push_str(&size.text(&cell.dims)),
        Op::Slice(a, start) => {
            operand(out, a, 5);
            let end = Size::from_parts(
                start.parts().0 + graph.node(node).size().map_or(0, |s| s.parts().0),
                graph.node(node).size().and_then(|s| s.parts().1).or(start.parts().1),
            );
            let end = end.map_or_else(|| "?".to_owned(), |end| end.text(&cell.dims));
            out.push_str(&format!("[{} : {end}]", start.text(&cell.dims)));
        }
        Op::Spread(a, along) => call(out, &format!("spread_{}", along.name()), &[a], cell, graph, depth),
        Op::Fold(a, along) => call(out, &format!("fold_{}", along.name()), &[a], cell, graph, depth),
        Op::Pad(a, start) => {
            out.push_str("pad(");
            write_node(cell, graph, a, depth + 1, out);
            out.push_str(&format!(", {})", start.text(&cell.dims)));
        }
        Op::Binary(BinaryOp::Min, a, b) => call(out, "min", &[a, b], cell, graph, depth),
        Op::Binary(BinaryOp::Max, a, b) => call(out, "max", &[a, b], cell, graph, depth),
        Op::Binary(op, a, b) => {
            let level = precedence(&Op::Binary(op, a, b));
            operand(out, a, level);
            out.push_str(&format!(" {} ", op.name()));
            operand(out, b, level + 1);
        }
        Op::MatVec(param, a) | Op::MatVecT(param, a) => {
            out.push_str(&cell.params[param].name);
            if matches!(op, Op::MatVecT(..)) {
                out.push_str("^T");
            }
            out.push_str(" @ ");
            operand(out, a, 5);
        }
    }
}

fn call(out: &mut String, function: &str, args: &[Handle<Node>], cell: &Cell, graph: &Graph, depth: usize) {
    out.push_str(function);
    out.push('(');
    for (i, &arg) in args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_node(cell, graph, arg, depth + 1, out);
    }
    out.push(')');
}

/// `1`, `0.5`, `1e-8`: the shortest text of an f64 constant.
fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 { format!("{}", value as i64) } else { format!("{value}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts_of(name: &str) -> CellFacts {
        let source = rnnc::stdlib::get(name).expect("shipped").source;
        let cell = rnnc::compiler::check_source(source).expect("checks").remove(0);
        CellFacts::of(&derive_cell(&cell).expect("derives"))
    }

    #[test]
    fn the_labels_of_the_shipped_cells_name_their_proved_structures() {
        assert_eq!(facts_of("para_gru").label(), "diagonal Jacobian · 3 values hoisted");
        assert!(facts_of("para_lstm").label().starts_with("block-diagonal Jacobian, K = 2"));
        assert!(facts_of("block_elman").label().starts_with("block-diagonal Jacobian, K = 4"));
        assert!(facts_of("lstm").label().starts_with("dense Jacobian (2H unknowns)"), "{}", facts_of("lstm").label());
        assert!(facts_of("elman").label().starts_with("dense Jacobian (H unknowns)"));
    }

    #[test]
    fn hoisted_values_read_as_the_cell_writes_them() {
        let facts = facts_of("para_gru");
        assert!(facts.hoisted.contains(&"Bz @ x + bz".to_owned()), "{:?}", facts.hoisted);
        assert!(facts.projections.iter().any(|p| p == "Bz @ x (a dense matrix product)"), "{:?}", facts.projections);
    }
}
