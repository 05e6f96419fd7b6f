//! WGSL text for one lane: the node printer (every IR node and derivative map
//! as WGSL over the lane's elements, cut into parts when long) that the lane
//! functions (`lane.rs`) and the backward's (`adjoint.rs`) are printed with. Every vector value is an `array<f32, W>` of the lane's `W`
//! elements; scalars are `f32`.

use std::fmt::Write as _;

use super::plan::{KernelPlan, LaneMode};
use crate::Derived;
use crate::arena::Handle;
use crate::check::{BinaryOp, DimSizes, ParamShape, Size, UnaryOp};
use crate::derive::Linear;
use crate::ir::semantics;
use crate::ir::{Node, Op, ReduceOp, Shape};

/// Which storage buffers the generated code reads or writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Uses {
    /// The projections buffer.
    pub projections: bool,
    /// The params buffer.
    pub params: bool,
    /// The inputs buffer.
    pub inputs: bool,
}

pub(super) struct Emitter<'a> {
    pub(super) derived: &'a Derived,
    pub(super) dims: &'a DimSizes,
    pub(super) plan: &'a KernelPlan,
    pub(super) text: String,
    pub(super) uses: Uses,
    /// The first node the emitter could not print (never a silent value):
    /// `generate` turns it into an error.
    pub(super) unprintable: Option<String>,
    /// The arguments a function being emitted passes to its parts (see
    /// [`SPLIT_NODES`]): `lane, b, t, pre, prev, mu` as it has them.
    pub(super) part_args: &'static str,
    /// The parts of functions cut at [`SPLIT_NODES`] nodes, and the private
    /// variables their node values live in: module-scope text.
    pub(super) parts: String,
    part_count: usize,
    private_declared: Vec<bool>,
    /// The values the functions being emitted read from their `pre` argument,
    /// in its order, with their widths: the hoisted values (forward step
    /// functions) or the raw values (`load_pre` of the forward, and the
    /// backward's functions).
    pub(super) reads: Vec<(Handle<Node>, u64)>,
    /// The WGSL type of the `pre` argument of generated parts.
    pub(super) pre_type: &'static str,
    /// The vector parameters the forward kernels read once per thread into
    /// `lane_params` (their offsets there), instead of from the params buffer
    /// at every use.
    pub(super) lane_params: Option<Vec<(Handle<crate::check::Param>, u64)>>,
    /// A seed the stage kernels read from a buffer (a staged operand's
    /// cotangent): its number and the WGSL reading element `e`.
    pub(super) stage_seed: Option<(u32, String)>,
}

/// A function computing more nodes than this is cut into parts of at most this
/// many nodes, whose values live in private (per-invocation) variables: naga's
/// WGSL front end spends time quadratic in a function's length (its typifier
/// walks the function's expressions from the start for each new one), so
/// bounded functions keep code generation linear in the size of a cell.
pub(super) const SPLIT_NODES: usize = 256;

/// Lane values of at most this many elements are computed element by element
/// with constant indices (see [`Emitter::for_each`]).
pub(super) const UNROLL_WIDTH: u64 = 4;

/// A float32 literal in WGSL.
fn literal(value: f64) -> String {
    let text = format!("{:?}", value as f32);
    if text.starts_with('-') { format!("({text})") } else { text }
}

impl<'a> Emitter<'a> {
    pub(super) fn new(derived: &'a Derived, dims: &'a DimSizes, plan: &'a KernelPlan) -> Self {
        Emitter {
            derived,
            dims,
            plan,
            text: String::new(),
            uses: Uses::default(),
            unprintable: None,
            part_args: "lane, 0u, 0u, pre, prev, array<f32, K>()",
            parts: String::new(),
            part_count: 0,
            private_declared: vec![false; derived.ir.graph.len()],
            reads: plan.raw.iter().map(|&(value, width)| (value.node(), width)).collect(),
            pre_type: "Pre",
            lane_params: None,
            stage_seed: None,
        }
    }

    /// An error if some node could not be printed.
    pub(super) fn check(&self) -> Result<(), crate::error::Error> {
        match &self.unprintable {
            None => Ok(()),
            Some(what) => Err(crate::error::Error::new(
                crate::error::ErrorKind::InvalidGeneratedCode {
                    language: "WGSL",
                    cell: self.derived.cell.name.clone(),
                    reason: format!("the WGSL printer has no form for {what}"),
                },
                self.derived.cell.span,
                "this cell",
            )),
        }
    }

    pub(super) fn line(&mut self, line: impl AsRef<str>) {
        self.text.push_str("    ");
        self.text.push_str(line.as_ref());
        self.text.push('\n');
    }

    pub(super) fn node(&self, handle: Handle<Node>) -> &Node {
        self.derived.ir.graph.node(handle)
    }

    /// The lane width of a node's value, or `None` for a scalar.
    pub(super) fn width(&self, handle: Handle<Node>) -> Option<u64> {
        match self.node(handle).shape {
            Shape::Scalar => None,
            Shape::Vector(size) => Some(self.plan.lane_len(size)),
        }
    }

    pub(super) fn element(&self, handle: Handle<Node>) -> String {
        match self.width(handle) {
            None => format!("v{}", handle.index()),
            Some(_) => format!("v{}[e]", handle.index()),
        }
    }

    /// The index in the whole value of element `e` of this lane's part of a
    /// value of `size` (WGSL expression): its window's, or `e` for a value
    /// every lane holds whole.
    pub(super) fn channel_of(&self, size: Size) -> String {
        if self.plan.windowed(size) { format!("(lane * {}u + e)", self.plan.lane_len(size)) } else { "e".to_owned() }
    }

    /// [`Emitter::channel_of`] the value of node `handle` (a scalar: `e`).
    pub(super) fn channel_of_node(&self, handle: Handle<Node>) -> String {
        match self.node(handle).size() {
            Some(size) => self.channel_of(size),
            None => "e".to_owned(),
        }
    }

    pub(super) fn pre_slot(&self, handle: Handle<Node>) -> Option<(u64, u64)> {
        let mut offset = 0;
        for &(node, width) in &self.reads {
            if node == handle {
                return Some((offset, width));
            }
            offset += width;
        }
        None
    }

    /// The nodes needed for `roots`, not looking through values read from `Pre`.
    pub(super) fn needed(&self, roots: impl IntoIterator<Item = Handle<Node>>) -> Vec<bool> {
        let graph = &self.derived.ir.graph;
        let mut needed = vec![false; graph.len()];
        for root in roots {
            needed[root.index()] = true;
        }
        for index in (0..graph.len()).rev() {
            let handle = Handle::from_index(index);
            if needed[index] && self.pre_slot(handle).is_none() {
                for operand in graph.node(handle).op.operands() {
                    needed[operand.index()] = true;
                }
            }
        }
        needed
    }

    pub(super) fn param_offset(&self, param: Handle<crate::check::Param>) -> u64 {
        self.plan.cell.params[param.index()].offset
    }

    /// `body` for each element `e` of a lane value of `width` elements: written
    /// out once per element with `e` a constant when `width` is at most
    /// [`UNROLL_WIDTH`] (so every per-thread array is indexed by constants and
    /// lives in registers), else a loop.
    pub(super) fn for_each(&mut self, width: u64, body: String) {
        if width <= UNROLL_WIDTH {
            for e in 0..width {
                self.line(format!("{{ let e = {e}u; {body} }}"));
            }
        } else {
            self.line(format!("for (var e = 0u; e < {width}u; e++) {{ {body} }}"));
        }
    }

    /// Emits code computing every needed node: `let`/`var` declarations in the
    /// function, or, beyond [`SPLIT_NODES`] nodes, calls of parts that compute
    /// them into private variables.
    pub(super) fn nodes(&mut self, needed: &[bool]) {
        let handles: Vec<usize> = (0..needed.len()).filter(|&i| needed[i]).collect();
        if handles.len() <= SPLIT_NODES {
            return self.node_lines(needed, false);
        }
        let caller = std::mem::take(&mut self.text);
        let mut calls = String::new();
        for chunk in handles.chunks(SPLIT_NODES) {
            let mut part = vec![false; needed.len()];
            for &i in chunk {
                part[i] = true;
            }
            self.node_lines(&part, true);
            let body = std::mem::take(&mut self.text);
            let name = format!("part_{}", self.part_count);
            self.part_count += 1;
            let _ = write!(
                self.parts,
                "fn {name}(lane: u32, b: u32, t: u32, pre: {}, prev: array<f32, K>, mu: array<f32, K>) {{\n{body}}}\n\n",
                self.pre_type
            );
            let _ = writeln!(calls, "    {name}({});", self.part_args);
        }
        self.text = caller;
        self.text.push_str(&calls);
    }

    /// Declares node `name` of type `ty`: a local, or once per module a private
    /// variable.
    fn declare(&mut self, handle: Handle<Node>, ty: &str, private: bool) {
        let name = format!("v{}", handle.index());
        if !private {
            self.line(format!("var {name}: {ty};"));
        } else if !std::mem::replace(&mut self.private_declared[handle.index()], true) {
            let _ = writeln!(self.parts, "var<private> {name}: {ty};");
        }
    }

    /// The lines computing every needed node, into locals or (`private`) the
    /// nodes' private variables.
    fn node_lines(&mut self, needed: &[bool], private: bool) {
        let graph = &self.derived.ir.graph;
        for (handle, node) in graph.iter() {
            if !needed[handle.index()] {
                continue;
            }
            let name = format!("v{}", handle.index());
            if let Some((offset, width)) = self.pre_slot(handle) {
                self.declare(handle, &format!("array<f32, {width}>"), private);
                self.for_each(width, format!("{name}[e] = pre.v[{offset}u + e];"));
                continue;
            }
            let Some(width) = self.width(handle) else {
                let value = match node.op {
                    Op::Const(l) => literal(l.value()),
                    Op::Unary(op, a) => unary(op, &self.element(a)),
                    Op::Binary(op, a, b) => self.binary_of(op, a, b),
                    Op::Step(a) => format!("select(0.0, 1.0, {} > 0.0)", self.element(a)),
                    Op::Sign(a) => format!("sign({})", self.element(a)),
                    Op::Length(size) => literal(self.dims.of(size) as f64),
                    other => self.unprintable(handle, &format!("{other:?} as a scalar")),
                };
                if private {
                    self.declare(handle, "f32", true);
                    self.line(format!("{name} = {value};"));
                } else {
                    self.line(format!("let {name}: f32 = {value};"));
                }
                continue;
            };
            self.declare(handle, &format!("array<f32, {width}>"), private);
            if node.moves_elements() {
                self.across(handle, width);
                continue;
            }
            let channel = self.channel_of_node(handle);
            let body = match node.op {
                Op::State(state) => {
                    let (slot, _) = self.plan.state_slots[state.index()];
                    format!("{name}[e] = prev[{slot}u + e];")
                }
                Op::Param(param) => match self.lane_params.as_ref().and_then(|l| l.iter().find(|(p, _)| *p == param)) {
                    Some(&(_, at)) => format!("{name}[e] = lane_params[{at}u + e];"),
                    None => {
                        self.uses.params = true;
                        format!("{name}[e] = params[{}u + {channel}];", self.param_offset(param))
                    }
                },
                Op::Unary(op, a) => format!("{name}[e] = {};", unary(op, &self.element(a))),
                Op::Binary(op, a, b) => format!("{name}[e] = {};", self.binary_of(op, a, b)),
                Op::Step(a) => format!("{name}[e] = select(0.0, 1.0, {} > 0.0);", self.element(a)),
                Op::Sign(a) => format!("{name}[e] = sign({});", self.element(a)),
                Op::Splat(a) => format!("{name}[e] = {};", self.element(a)),
                Op::MatVec(param, u) | Op::MatVecT(param, u) => {
                    self.uses.params = true;
                    let transpose = matches!(node.op, Op::MatVecT(..));
                    let (columns, column) = self.columns(param, transpose, &channel);
                    let entry = self.matrix_entry(param, &channel, &column, transpose);
                    let operand = format!("v{}[{}]", u.index(), self.operand_index(&column));
                    format!(
                        "var acc = 0.0; for (var q = 0u; q < {columns}u; q++) {{ acc += {entry} * {operand}; }} {name}[e] = acc;"
                    )
                }
                Op::Seed(number) => self.seed(&name, number as usize),
                Op::Reduce(..)
                | Op::FirstMax(_)
                | Op::Slice(..)
                | Op::Pad(..)
                | Op::Spread(..)
                | Op::Fold(..)
                | Op::Length(_)
                | Op::Const(_)
                | Op::Input(_) => {
                    self.unprintable(handle, &format!("{:?} as a lane vector outside the pre-activations", node.op))
                }
            };
            self.for_each(width, body);
        }
    }

    /// A node whose elements read other elements of its operand: a reduction
    /// (its value in every element), the indicator of the first largest
    /// element, a slice or a padding, over the operand's whole lane array: the
    /// plan makes one lane holding every state whole for a cell with one, so
    /// the array is the whole vector; anything else is an error, never a value.
    fn across(&mut self, handle: Handle<Node>, width: u64) {
        let op = self.node(handle).op;
        let Some(a) = op.operands().next() else { return };
        // The operand's lane array: the whole vector in a whole lane; in lanes of
        // whole rows the lane's rows (a column fold of them, in a backward, is the
        // lane's share of a replicated cotangent) or a replicated value whole.
        let whole = !matches!(self.plan.mode, LaneMode::Blocks { .. });
        let len = self.width(a);
        let (Some(len), true) = (len, whole) else {
            self.unprintable(handle, "a node across the elements of part of a vector");
            return;
        };
        let (name, v) = (format!("v{}", handle.index()), format!("v{}", a.index()));
        match op {
            Op::Slice(_, start) => {
                let start = self.dims.of(start);
                self.line(format!("for (var q = 0u; q < {width}u; q++) {{ {name}[q] = {v}[{start}u + q]; }}"));
                return;
            }
            Op::Pad(_, start) => {
                let start = self.dims.of(start);
                self.line(format!("for (var q = 0u; q < {width}u; q++) {{ {name}[q] = 0.0; }}"));
                self.line(format!("for (var q = 0u; q < {len}u; q++) {{ {name}[{start}u + q] = {v}[q]; }}"));
                return;
            }
            // Element `q` of the matrix and element `index` of the vector.
            Op::Spread(_, along) => {
                let index = along_index(along, along.matrix_cols(width, len));
                self.line(format!("for (var q = 0u; q < {width}u; q++) {{ {name}[q] = {v}[{index}]; }}"));
                return;
            }
            Op::Fold(_, along) => {
                let index = along_index(along, along.matrix_cols(len, width));
                self.line(format!("for (var q = 0u; q < {width}u; q++) {{ {name}[q] = 0.0; }}"));
                self.line(format!("for (var q = 0u; q < {len}u; q++) {{ {name}[{index}] += {v}[q]; }}"));
                return;
            }
            _ => {}
        }
        let (scan, value) = match op {
            Op::Reduce(ReduceOp::Sum, _) => {
                (format!("var acc = 0.0; for (var q = 0u; q < {len}u; q++) {{ acc += {v}[q]; }}"), "acc".to_owned())
            }
            Op::Reduce(ReduceOp::Max, _) => (
                format!(
                    "var acc = {v}[0]; for (var q = 1u; q < {len}u; q++) {{ acc = {}; }}",
                    binary(BinaryOp::Max, "acc", &format!("{v}[q]"))
                ),
                "acc".to_owned(),
            ),
            _ => (
                format!(
                    "var best = 0u; for (var q = 1u; q < {len}u; q++) {{ if ({v}[q] > {v}[best]) {{ best = q; }} }}"
                ),
                "select(0.0, 1.0, e == best)".to_owned(),
            ),
        };
        self.line(format!("{{ {scan}"));
        self.for_each(width, format!("{name}[e] = {value};"));
        self.line("}");
    }

    /// `a op b` for nodes `a` and `b`. `x - x` and `x / x` are printed as IEEE
    /// defines them (NaN for a non-finite `x`, and for `0 / 0`), by testing the
    /// bits: drivers that assume finite values fold them to 0 and 1, where the
    /// CPU (and the float64 reference) give NaN.
    fn binary_of(&self, op: BinaryOp, a: Handle<Node>, b: Handle<Node>) -> String {
        match op {
            BinaryOp::Sub if a == b => format!("self_difference_({})", self.element(a)),
            BinaryOp::Div if a == b => format!("self_quotient_({})", self.element(a)),
            BinaryOp::Pow => match self.derived.ir.graph.constant_value(b) {
                Some(p) => power(&self.element(a), p),
                None => format!("powf_({}, {})", self.element(a), self.element(b)),
            },
            _ => binary(op, &self.element(a), &self.element(b)),
        }
    }

    /// Records that node `handle` cannot be printed (`what`); the text printed in
    /// its place is never used, as `generate` then fails.
    fn unprintable(&mut self, handle: Handle<Node>, what: &str) -> String {
        self.unprintable.get_or_insert_with(|| format!("node v{} ({what})", handle.index()));
        "0.0".to_owned()
    }

    /// A cotangent the adjoint functions are given: a state's (`mu`, an argument)
    /// or an output's (the `douts` buffer at step `t` of sequence `b`).
    fn seed(&self, name: &str, number: usize) -> String {
        if let Some((seed, read)) = &self.stage_seed
            && *seed as usize == number
        {
            return format!("{name}[e] = {read};");
        }
        let plan = self.plan;
        if let Some(&(slot, _)) = plan.state_slots.get(number) {
            return format!("{name}[e] = mu[{slot}u + e];");
        }
        let o = number - plan.state_slots.len();
        let channel = self.channel_of(self.derived.cell.outputs[Handle::from_index(o)].size);
        format!(
            "{name}[e] = douts[settings.batch * settings.steps * {}u + (b * settings.steps + t) * {}u + {channel}];",
            plan.output_prefix[o], plan.cell.outputs[o]
        )
    }

    /// The columns a product sums over (`q` counts them) and the column channel.
    fn columns(&self, param: Handle<crate::check::Param>, transpose: bool, channel: &str) -> (u64, String) {
        match self.derived.cell.params[param].shape {
            ParamShape::Block { block, .. } => (block, format!("(({channel}) / {block}u * {block}u + q)")),
            ParamShape::Matrix { rows, cols } => (self.dims.of(if transpose { rows } else { cols }), "q".to_owned()),
            ParamShape::Vector(_) => (1, "q".to_owned()),
        }
    }

    /// Where column channel `column` sits in the operand's lane array.
    fn operand_index(&self, column: &str) -> String {
        match self.plan.mode {
            LaneMode::Blocks { width } => format!("{column} - lane * {width}u"),
            LaneMode::Rows { .. } | LaneMode::Whole => column.to_owned(),
        }
    }

    /// The WGSL expression of entry (`row`, `col`) (channels) of a matrix parameter;
    /// zero outside the blocks of a block parameter.
    fn matrix_entry(&self, param: Handle<crate::check::Param>, row: &str, col: &str, transpose: bool) -> String {
        let offset = self.param_offset(param);
        let (row, col) = if transpose { (col, row) } else { (row, col) };
        match self.derived.cell.params[param].shape {
            ParamShape::Block { block, .. } => format!(
                "select(0.0, params[{offset}u + ({row}) / {block}u * {kk}u + ({row}) % {block}u * {block}u + ({col}) % {block}u], ({row}) / {block}u == ({col}) / {block}u)",
                kk = block * block
            ),
            ParamShape::Matrix { cols, .. } => {
                format!("params[{offset}u + ({row}) * {}u + ({col})]", self.dims.of(cols))
            }
            ParamShape::Vector(_) => "0.0".to_owned(),
        }
    }

    /// The lane-local rows and columns of a linear map.
    fn map_shape(&self, map: Handle<Linear>) -> (u64, u64) {
        let maps = &self.derived.derivatives.maps;
        match *maps.get(map) {
            Linear::Diag { size, .. } => {
                let w = self.plan.lane_len(size);
                (w, w)
            }
            Linear::Matrix(p) | Linear::MatrixT(p) => {
                let (rows, cols) = match self.derived.cell.params[p].shape {
                    ParamShape::Matrix { rows, cols } => (rows, cols),
                    ParamShape::Block { size, .. } | ParamShape::Vector(size) => (size, size),
                };
                let (rows, cols) = (self.plan.lane_len(rows), self.plan.lane_len(cols));
                if matches!(maps.get(map), Linear::MatrixT(_)) { (cols, rows) } else { (rows, cols) }
            }
            Linear::Ones { rows, cols }
            | Linear::Select { rows, cols, .. }
            | Linear::Embed { rows, cols, .. }
            | Linear::Spread { rows, cols, .. }
            | Linear::Fold { rows, cols, .. } => (self.plan.lane_len(rows), self.plan.lane_len(cols)),
            Linear::Compose(a, b) => (self.map_shape(a).0, self.map_shape(b).1),
            Linear::Sum(a, _) => self.map_shape(a),
        }
    }

    /// Element `e` of the diagonal of a map that is elementwise (a diagonal,
    /// or sums and products of diagonals), as WGSL; `None` for another map.
    pub(super) fn diagonal_of(&self, map: Handle<Linear>) -> Option<String> {
        match *self.derived.derivatives.maps.get(map) {
            Linear::Diag { diag, .. } => Some(self.element(diag)),
            Linear::Sum(a, b) => Some(format!("({} + {})", self.diagonal_of(a)?, self.diagonal_of(b)?)),
            Linear::Compose(a, b) => Some(format!("({} * {})", self.diagonal_of(a)?, self.diagonal_of(b)?)),
            _ => None,
        }
    }

    /// The maps reachable from `roots`.
    pub(super) fn needed_maps(&self, roots: &[Handle<Linear>]) -> Vec<bool> {
        let maps = &self.derived.derivatives.maps;
        let mut needed = vec![false; maps.len()];
        for root in roots {
            needed[root.index()] = true;
        }
        for index in (0..maps.len()).rev() {
            if !needed[index] {
                continue;
            }
            match *maps.get(Handle::from_index(index)) {
                Linear::Compose(a, b) | Linear::Sum(a, b) => {
                    needed[a.index()] = true;
                    needed[b.index()] = true;
                }
                _ => {}
            }
        }
        needed
    }

    /// Emits lane-local matrices `mN` for every map reachable from `roots`.
    pub(super) fn maps(&mut self, roots: &[Handle<Linear>]) {
        let maps = &self.derived.derivatives.maps;
        let needed = self.needed_maps(roots);
        for (handle, map) in maps.iter() {
            if !needed[handle.index()] {
                continue;
            }
            let name = format!("m{}", handle.index());
            let (rows, cols) = self.map_shape(handle);
            self.line(format!("var {name}: array<f32, {}>;", rows * cols));
            let lane_base = match self.plan.mode {
                LaneMode::Blocks { width } => format!("lane * {width}u + "),
                LaneMode::Rows { .. } | LaneMode::Whole => String::new(),
            };
            match *map {
                Linear::Diag { diag, .. } => {
                    let value = self.element(diag);
                    self.for_each(rows, format!("{name}[e * {cols}u + e] = {value};"));
                }
                Linear::Matrix(p) | Linear::MatrixT(p) => {
                    self.uses.params = true;
                    let transpose = matches!(map, Linear::MatrixT(_));
                    let entry = self.matrix_entry(p, &format!("{lane_base}r"), &format!("{lane_base}c"), transpose);
                    self.line(format!(
                        "for (var r = 0u; r < {rows}u; r++) {{ for (var c = 0u; c < {cols}u; c++) {{ {name}[r * {cols}u + c] = {entry}; }} }}"
                    ));
                }
                Linear::Ones { .. } => {
                    self.line(format!("for (var i = 0u; i < {}u; i++) {{ {name}[i] = 1.0; }}", rows * cols));
                }
                Linear::Select { start, .. } | Linear::Embed { start, .. } => {
                    let start = self.dims.of(start);
                    let on = if matches!(map, Linear::Embed { .. }) { "r == c + " } else { "c == r + " };
                    self.line(format!(
                        "for (var r = 0u; r < {rows}u; r++) {{ for (var c = 0u; c < {cols}u; c++) {{ {name}[r * {cols}u + c] = select(0.0, 1.0, {on}{start}u); }} }}"
                    ));
                }
                Linear::Spread { along, .. } | Linear::Fold { along, .. } => {
                    // The matrix's elements index the rows of a spreading and the
                    // columns of a folding.
                    let fold = matches!(map, Linear::Fold { .. });
                    let (elements, vector, q, other) =
                        if fold { (cols, rows, "c", "r") } else { (rows, cols, "r", "c") };
                    let index = along_index(along, along.matrix_cols(elements, vector)).replace('q', q);
                    self.line(format!(
                        "for (var r = 0u; r < {rows}u; r++) {{ for (var c = 0u; c < {cols}u; c++) {{ {name}[r * {cols}u + c] = select(0.0, 1.0, {other} == {index}); }} }}"
                    ));
                }
                Linear::Compose(a, b) => {
                    let inner = self.map_shape(a).1;
                    self.line(format!(
                        "for (var r = 0u; r < {rows}u; r++) {{ for (var c = 0u; c < {cols}u; c++) {{ var acc = 0.0; for (var q = 0u; q < {inner}u; q++) {{ acc += m{}[r * {inner}u + q] * m{}[q * {cols}u + c]; }} {name}[r * {cols}u + c] = acc; }} }}",
                        a.index(),
                        b.index()
                    ));
                }
                Linear::Sum(a, b) => {
                    self.line(format!(
                        "for (var i = 0u; i < {}u; i++) {{ {name}[i] = m{}[i] + m{}[i]; }}",
                        rows * cols,
                        a.index(),
                        b.index()
                    ));
                }
            }
        }
    }
}

fn unary(op: UnaryOp, x: &str) -> String {
    match op {
        UnaryOp::Neg => format!("-({x})"),
        UnaryOp::Tanh => format!("tanh_({x})"),
        UnaryOp::Sigmoid => format!("sigmoid_({x})"),
        UnaryOp::Exp => format!("exp({x})"),
        UnaryOp::Log => format!("log({x})"),
        UnaryOp::Relu => format!("max({x}, 0.0)"),
        UnaryOp::Softplus => format!("softplus_({x})"),
        UnaryOp::Silu => format!("silu_({x})"),
        UnaryOp::Sqrt => format!("sqrt({x})"),
        UnaryOp::Abs => format!("abs({x})"),
        UnaryOp::Sin => format!("sin({x})"),
        UnaryOp::Cos => format!("cos({x})"),
        UnaryOp::Log1p => format!("log1p_({x})"),
        UnaryOp::Expm1 => format!("expm1_({x})"),
        UnaryOp::Erf => format!("erf_({x})"),
    }
}

/// `x ^ p` for a constant `p` (see [`semantics::power`]): `x * x` for a square,
/// repeated squaring for another integer, logarithms otherwise (of `|x|` for an
/// integer too large to expand, which is even).
fn power(x: &str, p: f64) -> String {
    if p == 2.0 {
        format!("({x} * {x})")
    } else if semantics::is_integer_exponent(p) {
        format!("powi_({x}, {}i)", p as i32)
    } else if p.fract() == 0.0 {
        format!("powf_(abs({x}), {})", literal(p))
    } else {
        format!("powf_({x}, {})", literal(p))
    }
}

fn binary(op: BinaryOp, a: &str, b: &str) -> String {
    match op {
        BinaryOp::Add => format!("({a} + {b})"),
        BinaryOp::Sub => format!("({a} - {b})"),
        BinaryOp::Mul => format!("({a} * {b})"),
        BinaryOp::Div => format!("({a} / {b})"),
        BinaryOp::Min => format!("min({a}, {b})"),
        BinaryOp::Max => format!("max({a}, {b})"),
        BinaryOp::Pow => format!("powf_({a}, {b})"),
    }
}

/// Numerically stable elementwise functions the generated code calls.
pub(super) const FUNCTIONS: &str = include_str!("functions.wgsl");

/// The constants, and the structs of values read per step: `(name, words)`
/// each (`Pre`, and `Raw` where it differs).
pub(super) fn write_prelude(text: &mut String, constants: &[(&str, u64)], structs: &[(&str, u64)]) {
    for (name, value) in constants {
        let _ = writeln!(text, "const {name}: u32 = {value}u;");
    }
    for (name, words) in structs {
        let _ = writeln!(text, "struct {name} {{ v: array<f32, {}> }}", words.max(&1));
    }
    text.push('\n');
}

/// The WGSL index of the vector element that matrix element `q` of a matrix of
/// `cols` columns reads or adds into ([`crate::check::Along::vector_index`]).
fn along_index(along: crate::ir::Along, cols: u64) -> String {
    match along {
        crate::ir::Along::Rows => format!("q / {cols}u"),
        crate::ir::Along::Cols => format!("q % {cols}u"),
    }
}
