//! The text form of the IR (`rnnc compile --emit ir`), cranelift-like: one node
//! per line, `v3 = add v1, v2`, with the value's shape as a trailing comment.

use std::fmt;

use super::Ir;
use super::node::{Node, Op};
use crate::arena::{Arena, Handle};
use crate::check::{Cell, Shape};

/// The name of a node in the text form: `v` and its index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueName(pub Handle<Node>);

impl fmt::Display for ValueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0.index())
    }
}

/// The name of item `handle` of `arena`, or `?` for a handle from another cell.
pub(crate) fn name_in<T>(arena: &Arena<T>, handle: Handle<T>, name: impl Fn(&T) -> &str) -> String {
    if handle.index() < arena.len() { name(&arena[handle]).to_owned() } else { "?".to_owned() }
}

/// The right-hand side of a node's line: `add v1, v2`, `matvec W, v0`, ...
pub(crate) fn instruction(cell: &Cell, node: &Node) -> String {
    let param = |p| name_in(&cell.params, p, |p| &p.name);
    let mnemonic = node.op.mnemonic();
    match node.op {
        Op::Const(literal) => format!("{mnemonic} {literal}"),
        Op::Seed(number) => format!("{mnemonic} {number}"),
        Op::Input(input) => format!("{mnemonic} {}", name_in(&cell.inputs, input, |i| &i.name)),
        Op::State(state) => format!("{mnemonic} {}", name_in(&cell.states, state, |s| &s.name)),
        Op::Param(p) => format!("{mnemonic} {}", param(p)),
        Op::Unary(_, a)
        | Op::Step(a)
        | Op::Sign(a)
        | Op::Splat(a)
        | Op::Reduce(_, a)
        | Op::FirstMax(a)
        | Op::Spread(a, _)
        | Op::Fold(a, _) => {
            format!("{mnemonic} {}", ValueName(a))
        }
        Op::Length(size) => format!("{mnemonic} {}", size_text(cell, size)),
        Op::Slice(a, start) | Op::Pad(a, start) => format!("{mnemonic} {}, {}", ValueName(a), size_text(cell, start)),
        Op::Binary(_, a, b) => format!("{mnemonic} {}, {}", ValueName(a), ValueName(b)),
        Op::MatVec(p, a) | Op::MatVecT(p, a) => format!("{mnemonic} {}, {}", param(p), ValueName(a)),
    }
}

/// Writes `vN = INSTRUCTION ; SHAPE` for the nodes `range` of `ir`.
pub(crate) fn write_nodes(
    f: &mut fmt::Formatter<'_>,
    cell: &Cell,
    ir: &Ir,
    range: std::ops::Range<usize>,
) -> fmt::Result {
    for (handle, node) in ir.graph.iter().skip(range.start).take(range.len()) {
        let line = format!("    {} = {}", ValueName(handle), instruction(cell, node));
        writeln!(f, "{line:<40} ; {}", shape_text(cell, node.shape))?;
    }
    Ok(())
}

fn shape_text(cell: &Cell, shape: Shape) -> String {
    match shape {
        Shape::Scalar => "scalar".to_owned(),
        Shape::Vector(size) => format!("[{}]", size_text(cell, size)),
    }
}

/// A size as written, `?` for a dim of another cell.
pub fn size_text(cell: &Cell, size: crate::check::Size) -> String {
    if let Some((rows, cols)) = size.matrix() {
        return format!("{}, {}", size_text(cell, rows.size()), size_text(cell, cols.size()));
    }
    match size.parts() {
        (n, None) => n.to_string(),
        (1, Some(dim)) => name_in(&cell.dims, dim, |d| &d.name),
        (factor, Some(dim)) => format!("{factor} * {}", name_in(&cell.dims, dim, |d| &d.name)),
    }
}

/// Displays an [`Ir`] with the names of its cell.
pub struct IrDisplay<'a> {
    pub(crate) ir: &'a Ir,
    pub(crate) cell: &'a Cell,
}

impl fmt::Display for IrDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (ir, cell) = (self.ir, self.cell);
        let dims = |size: crate::check::Size| size.text(&cell.dims);
        let list = |items: Vec<String>| if items.is_empty() { "none".to_owned() } else { items.join(", ") };
        writeln!(f, "step {} {{", cell.name)?;
        let dim_names: Vec<String> = cell.dims.values().map(|d| d.name.clone()).collect();
        writeln!(f, "    ; dims: {}", list(dim_names))?;
        let inputs = cell.inputs.values().map(|i| format!("{}: [{}]", i.name, dims(i.size))).collect();
        writeln!(f, "    ; inputs: {}", list(inputs))?;
        let states = cell.states.values().map(|s| format!("{}: [{}]", s.name, dims(s.size))).collect();
        writeln!(f, "    ; states: {}", list(states))?;
        let params = cell.params.values().map(|p| format!("{}: {}", p.name, p.shape.text(&cell.dims))).collect();
        writeln!(f, "    ; params: {}", list(params))?;
        write_nodes(f, cell, ir, 0..ir.step_len.min(ir.graph.len()))?;
        if ir.graph.len() > ir.step_len {
            writeln!(f, "    ; derivative expressions")?;
            write_nodes(f, cell, ir, ir.step_len..ir.graph.len())?;
        }
        for (state, update) in cell.states.values().zip(&ir.updates) {
            writeln!(f, "    {}' = {}", state.name, ValueName(*update))?;
        }
        for (output, value) in cell.outputs.values().zip(&ir.outputs) {
            writeln!(f, "    output {} = {}", output.name, ValueName(*value))?;
        }
        writeln!(f, "}}")
    }
}
