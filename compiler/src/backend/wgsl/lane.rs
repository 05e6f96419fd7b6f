//! The lane functions the solver templates call, printed by the [`Emitter`]:
//! `load_raw`, `hoist` and `load_pre` (the values a lane reads per step),
//! `load_lane_params`, `load_init` and `save_state`, `step`, `step_jacobian`
//! and `store`. The node printer they use is in `emit.rs`.

use std::fmt::Write as _;

use super::emit::Emitter;
use super::plan::RawValue;
use crate::arena::Handle;
use crate::check::{OutputValue, ParamShape};
use crate::derive::Linear;
use crate::ir::Node;

impl Emitter<'_> {
    /// `load_lane_params(lane)`, copying every vector parameter's lane elements
    /// into the private array `lane_params` (when they fit in `limit` words;
    /// else it does nothing and the parameters are read where used), and makes
    /// the emitter read them there. Every forward kernel calls it once per live
    /// thread.
    pub(super) fn lane_params(&mut self, limit: u64) {
        let cell = &self.derived.cell;
        let mut placed = Vec::new();
        let mut words = 0;
        for (param, p) in cell.params.iter() {
            if let ParamShape::Vector(size) = p.shape {
                placed.push((param, words));
                words += self.plan.lane_len(size);
            }
        }
        if words == 0 || words > limit {
            self.text.push_str("fn load_lane_params(lane: u32) {}\n\n");
            return;
        }
        let _ = writeln!(self.parts, "var<private> lane_params: array<f32, {words}>;");
        self.text.push_str("fn load_lane_params(lane: u32) {\n");
        for &(param, at) in &placed {
            let ParamShape::Vector(size) = cell.params[param].shape else { continue };
            let width = self.plan.lane_len(size);
            let channel = self.channel_of(size);
            self.uses.params = true;
            let offset = self.param_offset(param);
            self.for_each(width, format!("lane_params[{at}u + e] = params[{offset}u + {channel}];"));
        }
        self.text.push_str("}\n\n");
        self.lane_params = Some(placed);
    }

    /// `fn {name}(b, t, lane) -> {ty}`: the raw values of a lane at one step,
    /// read from the projections and inputs buffers.
    pub(super) fn load_raw(&mut self, name: &str, ty: &str) {
        if self.plan.raw.iter().any(|(value, _)| matches!(value, RawValue::Projection { .. })) {
            self.projection_index();
        }
        let _ = write!(self.text, "fn {name}(b: u32, t: u32, lane: u32) -> {ty} {{\n    var raw: {ty};\n");
        let mut offset = 0;
        let plan = self.plan;
        for &(value, width) in &plan.raw {
            let channel = self.channel_of_node(value.node());
            let read = match value {
                RawValue::Projection { column, .. } => {
                    self.uses.projections = true;
                    format!("projections[projection_index(b, t, {column}u + {channel})]")
                }
                RawValue::Input { input, .. } => {
                    self.uses.inputs = true;
                    let i = input.index();
                    format!(
                        "inputs[settings.batch * settings.steps * {}u + (b * settings.steps + t) * {}u + {channel}]",
                        plan.input_prefix[i], plan.cell.inputs[i]
                    )
                }
            };
            self.for_each(width, format!("raw.v[{offset}u + e] = {read};"));
            offset += width;
        }
        self.text.push_str("    return raw;\n}\n\n");
    }

    /// `fn projection_index(b, t, column)`: where a projection lies in the
    /// projections buffer, in the [`ProjectionLayout`](super::ProjectionLayout)
    /// the kernel's pipeline was made for (a constant the driver folds).
    fn projection_index(&mut self) {
        let _ = write!(
            self.text,
            "// Column `column` of step `t` of sequence `b` in the projections: column by\n\
             // column ([columns, B T]) or step by step ([B T, columns]), as the pass laid them.\n\
             fn projection_index(b: u32, t: u32, column: u32) -> u32 {{\n    \
             let row = b * settings.steps + t;\n    \
             if {} {{ return column * (settings.batch * settings.steps) + row; }}\n    \
             return row * {}u + column;\n}}\n\n",
            super::plan::PROJECTIONS_BY_COLUMN,
            self.plan.cell.projection_columns
        );
    }

    /// The forward kernels' `hoist(raw, lane)`: the hoisted values of a lane at
    /// one step, computed once from its raw values, and `load_pre(b, t, lane)`,
    /// both in one. Afterwards the emitter's functions read the hoisted values.
    pub(super) fn load_hoisted(&mut self) {
        self.load_raw("load_raw", "Raw");
        self.text.push_str("fn hoist(pre: Raw, lane: u32) -> Pre {\n");
        self.part_args = "lane, 0u, 0u, pre, array<f32, K>(), array<f32, K>()";
        self.pre_type = "Raw";
        let hoisted = self.plan.hoisted.clone();
        let needed = self.needed(hoisted.iter().map(|&(node, _)| node));
        self.nodes(&needed);
        self.line("var hoisted: Pre;");
        let mut offset = 0;
        for &(node, width) in &hoisted {
            let value = self.element(node);
            self.for_each(width, format!("hoisted.v[{offset}u + e] = {value};"));
            offset += width;
        }
        self.text.push_str("    return hoisted;\n}\n\n");
        self.text.push_str(
            "fn load_pre(b: u32, t: u32, lane: u32) -> Pre {\n    return hoist(load_raw(b, t, lane), lane);\n}\n\n",
        );
        self.pre_type = "Pre";
        self.reads = hoisted;
    }

    /// For each state, a loop over its elements in the lane: `statement(slot,
    /// initial, sequence)` with `slot` the state's offset in the lane's unknowns,
    /// and WGSL addresses of element `e` (sequence `b`, step `t`) in a buffer laid
    /// out like the initial states (`[B, H]` per state) and like the states (`[B,
    /// T, H]` per state).
    pub(super) fn each_state(&mut self, statement: impl Fn(u64, &str, &str) -> String) {
        let plan = self.plan;
        let states = &self.derived.cell.states;
        for (s, &(slot, width)) in plan.state_slots.iter().enumerate() {
            let channel = self.channel_of(states[crate::arena::Handle::from_index(s)].size);
            let (prefix, size) = (plan.state_prefix[s], plan.cell.states[s]);
            let initial = format!("settings.batch * {prefix}u + b * {size}u + {channel}");
            let sequence =
                format!("settings.batch * settings.steps * {prefix}u + (b * settings.steps + t) * {size}u + {channel}");
            self.for_each(width, statement(slot, &initial, &sequence));
        }
    }

    /// `load_init` and its inverse `save_state`, over the initial-state buffer.
    pub(super) fn load_init(&mut self) {
        self.text.push_str("fn load_init(b: u32, lane: u32) -> array<f32, K> {\n    var v: array<f32, K>;\n");
        self.each_state(|slot, at, _| format!("v[{slot}u + e] = init[{at}];"));
        self.text.push_str("    return v;\n}\n\n");
        self.text.push_str("fn save_state(b: u32, lane: u32, v: array<f32, K>) {\n");
        self.each_state(|slot, at, _| format!("init[{at}] = v[{slot}u + e];"));
        self.text.push_str("}\n\n");
    }

    pub(super) fn results(&mut self, target: &str) {
        let plan = self.plan;
        for (s, &(slot, width)) in plan.state_slots.iter().enumerate() {
            let update = self.derived.ir.updates[s];
            let value = self.element(update);
            self.for_each(width, format!("{target}[{slot}u + e] = {value};"));
        }
    }

    pub(super) fn step(&mut self) {
        self.text.push_str("fn step(lane: u32, pre: Pre, prev: array<f32, K>) -> array<f32, K> {\n");
        self.part_args = "lane, 0u, 0u, pre, prev, array<f32, K>()";
        let needed = self.needed(self.derived.ir.updates.clone());
        self.nodes(&needed);
        self.line("var next: array<f32, K>;");
        self.results("next");
        self.text.push_str("    return next;\n}\n\n");
    }

    /// `step_jacobian`: the step's value `f` and its Jacobian in the lane, as
    /// the scans keep it (`JB x JB` diagonal blocks, `affine.wgsl`): every
    /// entry of a dense lane's, the diagonal of a diagonal one.
    pub(super) fn step_jacobian(&mut self) {
        self.text.push_str(
            "fn step_jacobian(lane: u32, pre: Pre, prev: array<f32, K>, f: ptr<function, array<f32, K>>, jac: ptr<function, array<f32, KK>>) {\n",
        );
        self.part_args = "lane, 0u, 0u, pre, prev, array<f32, K>()";
        let derivatives = &self.derived.derivatives;
        let n = self.plan.state_slots.len();
        let blocks: Vec<(usize, usize, Handle<Linear>)> =
            (0..n).flat_map(|i| (0..n).filter_map(move |j| derivatives.state_block(i, j).map(|m| (i, j, m)))).collect();
        let diagonal = self.plan.jacobian_block == 1;
        let elementwise: Vec<Option<String>> =
            blocks.iter().map(|&(_, _, map)| if diagonal { self.diagonal_of(map) } else { None }).collect();
        let roots: Vec<Handle<Linear>> =
            blocks.iter().zip(&elementwise).filter(|(_, e)| e.is_none()).map(|(&(_, _, m), _)| m).collect();
        let mut diag_nodes: Vec<Handle<Node>> = self.derived.ir.updates.clone();
        let needed_maps = self.needed_maps(&blocks.iter().map(|&(_, _, m)| m).collect::<Vec<_>>());
        for (handle, map) in derivatives.maps.iter() {
            if let Linear::Diag { diag, .. } = *map
                && needed_maps[handle.index()]
            {
                diag_nodes.push(diag);
            }
        }
        let needed = self.needed(diag_nodes);
        self.nodes(&needed);
        self.results("(*f)");
        self.line("for (var i = 0u; i < KK; i++) { (*jac)[i] = 0.0; }");
        self.maps(&roots);
        for ((i, j, map), expression) in blocks.into_iter().zip(elementwise) {
            let (row_slot, rows) = self.plan.state_slots[i];
            let (col_slot, cols) = self.plan.state_slots[j];
            let m = map.index();
            if diagonal {
                // One state (`KernelPlan::jacobian_block`): the block is the lane's.
                let value = expression.unwrap_or_else(|| format!("m{m}[e * {cols}u + e]"));
                self.for_each(rows, format!("(*jac)[{row_slot}u + e] = {value};"));
            } else {
                self.line(format!(
                    "for (var r = 0u; r < {rows}u; r++) {{ for (var c = 0u; c < {cols}u; c++) {{ (*jac)[({row_slot}u + r) * K + {col_slot}u + c] = m{m}[r * {cols}u + c]; }} }}"
                ));
            }
        }
        self.text.push_str("}\n\n");
    }

    pub(super) fn store(&mut self) {
        self.text
            .push_str("fn store(b: u32, t: u32, lane: u32, pre: Pre, prev: array<f32, K>, next: array<f32, K>) {\n");
        self.part_args = "lane, b, t, pre, prev, array<f32, K>()";
        let cell = &self.derived.cell;
        let computed: Vec<Handle<Node>> = cell
            .outputs
            .iter()
            .filter(|(_, o)| !matches!(o.value, OutputValue::State(_)))
            .map(|(h, _)| self.derived.ir.outputs[h.index()])
            .collect();
        let needed = self.needed(computed);
        self.nodes(&needed);
        let plan = self.plan;
        for (o, output) in cell.outputs.iter() {
            let channel = self.channel_of(output.size);
            let o = o.index();
            let address = format!(
                "settings.batch * settings.steps * {}u + (b * settings.steps + t) * {}u + {channel}",
                plan.output_prefix[o], plan.cell.outputs[o]
            );
            let width = plan.lane_len(output.size);
            let value = match output.value {
                OutputValue::State(s) => format!("next[{}u + e]", plan.state_slots[s.index()].0),
                _ => self.element(self.derived.ir.outputs[o]),
            };
            self.for_each(width, format!("outputs[{address}] = {value};"));
        }
        self.line("if settings.save_states != 0u {");
        self.each_state(|slot, _, at| format!("states[{at}] = next[{slot}u + e];"));
        self.line("}");
        self.text.push_str("}\n\n");
    }
}
