//! The backward kernels: the step's adjoint ([`crate::derive::adjoint`]) as lane
//! functions, and the module that runs them over the sequence in reverse.
//!
//! Per step and lane, `adjoint_step` takes the cotangent `mu_t` of the lane's
//! next state, reads the outputs' cotangents, and returns `mu_{t-1}`; on the way it
//! writes the projections' cotangents `dP` and the inputs' elementwise
//! cotangents, and adds the parameters' shares into the thread's accumulator
//! (laid out by [`Accumulator`]). `adjoint_direct` is the same without `mu`
//! (`g_t`), for the reverse scan of `mu_{t-1} = J_t^T mu_t + g_t`
//! (`adjoint_scan.wgsl`); `adjoint_sequential.wgsl` walks the steps backwards.
//! Everything the backward writes goes to one buffer ([`Buffer::Grads`]) laid
//! out by [`GradientLayout`]; the runtime turns `dP` into the projection
//! matrices' gradients and the inputs' remaining ones with matrix products.

use super::emit::{Emitter, FUNCTIONS, write_prelude};
use super::plan::{KernelPlan, LaneMode, RawValue};
use super::{Buffer, NewtonShape, settings_binding, validate};
use crate::Derived;
use crate::arena::Handle;
use crate::check::{DimSizes, Param, ParamShape};
use crate::derive::adjoint::ParamAdjoint;
use crate::error::Error;
use crate::ir::Node;

const SCAN: &str = include_str!("adjoint_scan.wgsl");
const SEQUENTIAL: &str = include_str!("adjoint_sequential.wgsl");

/// How a parameter's per-lane gradient is laid out in a thread's accumulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccumulatorKind {
    /// A vector parameter: one value per lane element.
    Vector,
    /// A `block[H, K]` parameter: per lane row, its block's `K` columns.
    Block {
        /// `K`.
        block: u64,
    },
    /// A dense `[rows, cols]` parameter (whole lanes only): row-major.
    Dense,
}

/// One parameter's place in the accumulator every backward thread keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accumulator {
    /// The parameter.
    pub param: Handle<Param>,
    /// Its layout.
    pub kind: AccumulatorKind,
    /// Its first word in the accumulator.
    pub offset: u64,
    /// Its words in the accumulator.
    pub len: u64,
    /// The parameter's words between neighbouring lanes' accumulators: its
    /// elements in a lane's window, or 0 where every lane accumulates the
    /// whole parameter (a whole lane, or a replicated parameter in lanes of
    /// whole rows: the gather sums the lanes' shares).
    pub lane_stride: u64,
}

impl Accumulator {
    /// The index in the parameter's storage of word `i` of this accumulator in
    /// lane `lane` of `plan`.
    pub fn param_index(&self, lane: u64, i: u64) -> u64 {
        let lane_base = lane * self.lane_stride;
        match self.kind {
            AccumulatorKind::Vector => lane_base + i,
            AccumulatorKind::Block { block } => {
                let row = lane_base + i / block;
                row / block * block * block + row % block * block + i % block
            }
            AccumulatorKind::Dense => i,
        }
    }
}

/// Where the backward kernels write in the grads buffer, for one pass of
/// `batch` sequences of `steps` (offsets in words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GradientLayout {
    /// The projections' cotangents, `[B * T, plan.projection_columns]`, at 0.
    pub projections: u64,
    /// The lane groups' shares of the replicated projections' cotangents
    /// (lanes of whole rows, [`super::shares`]), `[groups, B * T,
    /// plan.replicated_width()]`, summed into their columns of the
    /// projections' by `replicated_sums`.
    pub replicated: u64,
    /// The inputs' gradients, laid out like the inputs buffer.
    pub inputs: u64,
    /// The initial states' gradients, laid out like the init buffer.
    pub inits: u64,
    /// The accumulators, `[B, threads per lane, lanes, accumulator length]`.
    pub partials: u64,
    /// The buffer's length.
    pub len: u64,
}

impl GradientLayout {
    /// The layout for `plan` and `kernels`, for one pass.
    pub fn new(plan: &KernelPlan, kernels: &AdjointKernels, batch: u64, steps: u64, scan: bool) -> Self {
        let rows = batch * steps;
        let replicated = rows * plan.cell.projection_columns;
        let inputs = replicated + kernels.share_groups(plan) * rows * plan.replicated_width();
        let inits = inputs + rows * plan.cell.inputs.iter().sum::<u64>();
        let partials = inits + batch * plan.cell.state_width();
        let threads = if scan { kernels.scan.map_or(1, |s| s.chunks) } else { 1 };
        let len = partials + batch * threads * plan.lanes * kernels.accumulator_len.max(1);
        GradientLayout { projections: 0, replicated, inputs, inits, partials, len }
    }
}

/// A cell's backward kernels for bound sizes.
#[derive(Clone, Debug)]
pub struct AdjointKernels {
    /// WGSL with entry points `adjoint_sequential` and, when `scan` is some,
    /// `adjoint_scan`.
    pub text: String,
    /// The buffers it binds, in binding order.
    pub bindings: Vec<Buffer>,
    /// The reverse scan's workgroup shape (the forward Newton kernel's).
    pub scan: Option<NewtonShape>,
    /// The parameters' accumulators.
    pub accumulators: Vec<Accumulator>,
    /// Words per thread's accumulator.
    pub accumulator_len: u64,
    /// Whether `adjoint_step` writes every projection column's cotangent (a
    /// projection whose cotangent is zero is never written: its columns must be
    /// cleared first).
    pub writes_every_projection: bool,
}

impl AdjointKernels {
    /// Groups of lanes whose shares of the replicated projections'
    /// cotangents the backward kernels sum before writing them
    /// ([`super::shares`]): a group per reverse-scan workgroup's lanes.
    pub fn share_groups(&self, plan: &KernelPlan) -> u64 {
        plan.lanes.div_ceil(self.scan.map_or(1, |s| s.lanes))
    }
}

/// Lays out the accumulators: one per parameter with a share in the step
/// (projections' matrices excluded: their gradients are matrix products).
fn accumulators(derived: &Derived, dims: &DimSizes, plan: &KernelPlan) -> Result<Vec<Accumulator>, Error> {
    let mut out = Vec::new();
    let mut offset = 0;
    for (p, share) in plan.adjoint(derived).params.iter().enumerate() {
        let param = Handle::from_index(p);
        let shape = derived.cell.params[param].shape;
        let uses = || match share {
            ParamAdjoint::Matrix(uses) => uses.iter().map(|u| u.product).collect(),
            ParamAdjoint::Vector(_) => Vec::new(),
        };
        let stride = |size| if plan.windowed(size) { plan.lane_len(size) } else { 0 };
        let (kind, len, lane_stride) = match (share, shape) {
            (ParamAdjoint::Vector(None), _) => continue,
            (ParamAdjoint::Matrix(uses), _) if uses.is_empty() => continue,
            (ParamAdjoint::Vector(Some(_)), ParamShape::Vector(size)) => {
                (AccumulatorKind::Vector, plan.lane_len(size), stride(size))
            }
            (ParamAdjoint::Matrix(_), ParamShape::Block { size, block }) => {
                let width = plan.lane_len(size);
                if !width.is_multiple_of(block) {
                    return Err(super::refusal::of_param(
                        derived,
                        param,
                        uses(),
                        format!("the blocks of `{}` cross the lanes", derived.cell.params[param].name),
                    ));
                }
                (AccumulatorKind::Block { block }, width * block, stride(size))
            }
            (ParamAdjoint::Matrix(_), ParamShape::Matrix { rows, cols }) if plan.mode == LaneMode::Whole => {
                (AccumulatorKind::Dense, dims.of(rows) * dims.of(cols), 0)
            }
            _ => {
                return Err(super::refusal::of_param(
                    derived,
                    param,
                    uses(),
                    format!("the gradient of `{}` needs products across lanes", derived.cell.params[param].name),
                ));
            }
        };
        out.push(Accumulator { param, kind, offset, len, lane_stride });
        offset += len;
    }
    Ok(out)
}

impl Emitter<'_> {
    /// `load_state` (a lane's state after step `t`, from the states buffer), and
    /// `load_init_grad` and `save_init_grad` (the initial states' gradients).
    fn load_state(&mut self) {
        self.text.push_str("fn load_state(b: u32, t: u32, lane: u32) -> array<f32, K> {\n    var v: array<f32, K>;\n");
        self.each_state(|slot, _, at| format!("v[{slot}u + e] = states[{at}];"));
        self.text.push_str("    return v;\n}\n\n");
        self.text.push_str("fn load_init_grad(b: u32, lane: u32) -> array<f32, K> {\n    var v: array<f32, K>;\n");
        self.each_state(|slot, at, _| format!("v[{slot}u + e] = grads[init_grad_base() + {at}];"));
        self.text.push_str("    return v;\n}\n\n");
        self.text.push_str("fn save_init_grad(b: u32, lane: u32, v: array<f32, K>) {\n");
        self.each_state(|slot, at, _| format!("grads[init_grad_base() + {at}] = v[{slot}u + e];"));
        self.text.push_str("}\n\n");
    }

    /// Writes the state cotangents `roots` (one per state) into `out`.
    fn state_results(&mut self, roots: &[Handle<Node>], out: &str) {
        let plan = self.plan;
        self.line(format!("var {out}: array<f32, K>;"));
        for (&(slot, width), &root) in plan.state_slots.iter().zip(roots) {
            let value = self.element(root);
            self.for_each(width, format!("{out}[{slot}u + e] = {value};"));
        }
    }

    /// `adjoint_direct`: `g_t`, the state cotangents from the outputs' alone.
    fn adjoint_direct(&mut self) {
        self.text.push_str(
            "fn adjoint_direct(b: u32, t: u32, lane: u32, pre: Pre, prev: array<f32, K>) -> array<f32, K> {\n",
        );
        self.line("var mu: array<f32, K>;");
        self.part_args = "lane, b, t, pre, prev, mu";
        let roots = self.plan.adjoint(self.derived).direct.clone();
        let needed = self.needed(roots.iter().copied());
        self.nodes(&needed);
        self.state_results(&roots, "g");
        self.text.push_str("    return g;\n}\n\n");
    }

    /// `adjoint_step`: the whole vector-Jacobian product of one step.
    fn adjoint_step(&mut self, accumulators: &[Accumulator]) {
        self.text.push_str(
            "fn adjoint_step(b: u32, t: u32, lane: u32, pre: Pre, prev: array<f32, K>, mu: array<f32, K>, acc: ptr<function, array<f32, A>>, shares: ptr<function, array<f32, SHARE_WORDS>>) -> array<f32, K> {\n",
        );
        self.part_args = "lane, b, t, pre, prev, mu";
        let derived = self.derived;
        let adjoint = self.plan.adjoint(derived);
        let mut roots: Vec<Handle<Node>> = adjoint.states.clone();
        roots.extend(adjoint.projections.iter().map(|p| p.adjoint));
        roots.extend(adjoint.inputs.iter().flatten().copied());
        for share in &adjoint.params {
            match share {
                ParamAdjoint::Vector(node) => roots.extend(node),
                ParamAdjoint::Matrix(uses) => roots.extend(uses.iter().flat_map(|u| [u.adjoint, u.operand])),
            }
        }
        let needed = self.needed(roots);
        self.nodes(&needed);
        let plan = self.plan;
        // The projections' cotangents, in the projections' columns; a
        // replicated projection's as this lane's share (`super::shares`).
        for projection in &adjoint.projections {
            let column = plan.raw.iter().find_map(|&(value, _)| match value {
                RawValue::Projection { node, column } if node == projection.node => Some(column),
                _ => None,
            });
            let (Some(column), Some(width)) = (column, self.width(projection.adjoint)) else { continue };
            let value = self.element(projection.adjoint);
            let replicated = &plan.replicated;
            let target = match replicated.iter().position(|&(c, _)| c == column) {
                Some(index) => {
                    let at: u64 = replicated[..index].iter().map(|&(_, w)| w).sum();
                    format!("(*shares)[{at}u + e]")
                }
                None => format!(
                    "grads[(b * settings.steps + t) * {}u + {column}u + {}]",
                    plan.cell.projection_columns,
                    self.channel_of_node(projection.node)
                ),
            };
            self.for_each(width, format!("{target} = {value};"));
        }
        // The inputs' elementwise cotangents.
        for (i, node) in adjoint.inputs.iter().enumerate() {
            let Some(node) = *node else { continue };
            let Some(width) = self.width(node) else { continue };
            let value = self.element(node);
            let channel = self.channel_of(self.derived.cell.inputs[Handle::from_index(i)].size);
            self.for_each(
                width,
                format!(
                    "grads[input_grad_base() + settings.batch * settings.steps * {}u + (b * settings.steps + t) * {}u + {channel}] = {value};",
                    plan.input_prefix[i], plan.cell.inputs[i]
                ),
            );
        }
        // The parameters' shares.
        for accumulator in accumulators {
            let offset = accumulator.offset;
            let lane_base = format!("lane * {}u", accumulator.lane_stride);
            match &adjoint.params[accumulator.param.index()] {
                ParamAdjoint::Vector(Some(node)) => {
                    let value = self.element(*node);
                    self.for_each(accumulator.len, format!("(*acc)[{offset}u + e] += {value};"));
                }
                ParamAdjoint::Vector(None) => {}
                ParamAdjoint::Matrix(uses) => {
                    for u in uses {
                        let (a, x) = (u.adjoint.index(), u.operand.index());
                        let rows = self.width(u.adjoint).unwrap_or(1);
                        let body = match accumulator.kind {
                            AccumulatorKind::Block { block } => format!(
                                "for (var q = 0u; q < {block}u; q++) {{ (*acc)[{offset}u + e * {block}u + q] += v{a}[e] * v{x}[({lane_base} + e) / {block}u * {block}u + q - {lane_base}]; }}"
                            ),
                            _ => {
                                let cols = self.width(u.operand).unwrap_or(1);
                                format!(
                                    "for (var q = 0u; q < {cols}u; q++) {{ (*acc)[{offset}u + e * {cols}u + q] += v{a}[e] * v{x}[q]; }}"
                                )
                            }
                        };
                        self.for_each(rows, body);
                    }
                }
            }
        }
        self.state_results(&adjoint.states, "mu_prev");
        self.text.push_str("    return mu_prev;\n}\n\n");
    }
}

/// Generates (and validates) the backward kernels of `derived` for `dims`,
/// following the forward's `plan`; `scan` is the forward Newton kernel's shape
/// (none: only the sequential kernel).
pub fn generate_adjoint(
    derived: &Derived,
    dims: &DimSizes,
    plan: &KernelPlan,
    scan: Option<NewtonShape>,
) -> Result<AdjointKernels, Error> {
    let accumulators = accumulators(derived, dims, plan)?;
    let accumulator_len: u64 = accumulators.iter().map(|a| a.len).sum();
    replicated_inputs_have_no_cotangent(derived, plan)?;
    let mut emitter = Emitter::new(derived, dims, plan);
    emitter.load_raw("load_pre", "Pre");
    emitter.load_init();
    emitter.load_state();
    if scan.is_some() {
        emitter.step_jacobian();
        emitter.adjoint_direct();
    }
    emitter.adjoint_step(&accumulators);
    emitter.check()?;
    let uses = emitter.uses;
    let body = std::mem::take(&mut emitter.text);

    let mut text =
        format!("// Backward kernels of cell `{}`, generated by rnnc.\n\n{}\n", derived.cell.name, settings_binding());
    let mut bindings = vec![Buffer::Settings];
    let mut touched = Vec::new();
    let buffers = [
        (uses.projections, Buffer::Projections, "projections", "read"),
        (uses.params, Buffer::Params, "params", "read"),
        (uses.inputs, Buffer::Inputs, "inputs", "read"),
        (true, Buffer::Init, "init", "read_write"),
        (true, Buffer::States, "states", "read"),
        (true, Buffer::Douts, "douts", "read"),
        (true, Buffer::Grads, "grads", "read_write"),
    ];
    for (used, buffer, name, access) in buffers {
        if used {
            text.push_str(&format!(
                "@group(0) @binding({}) var<storage, {access}> {name}: array<f32>;\n",
                bindings.len()
            ));
            bindings.push(buffer);
            touched.push(name);
        }
    }
    text.push('\n');
    let shape = scan.unwrap_or(NewtonShape { lanes: 1, chunks: 1, chunk_len: 1 });
    write_prelude(
        &mut text,
        &[
            ("K", plan.unknowns),
            ("C", shape.lanes),
            ("S", shape.chunks),
            ("N", shape.chunk_len),
            ("A", accumulator_len.max(1)),
            ("COLUMNS", plan.cell.projection_columns),
            ("INPUT_WORDS", plan.cell.inputs.iter().sum()),
            ("STATE_WORDS", plan.cell.state_width()),
            ("REPLICATED_WORDS", plan.replicated_width()),
            ("SHARE_WORDS", plan.replicated_width().max(1)),
            ("JB", plan.jacobian_block),
        ],
        &[("Pre", plan.raw_len())],
    );
    text.push_str("// Every binding is used by every entry point, so they share one layout.\nfn touch_bindings() {\n");
    for name in &touched {
        text.push_str(&format!("    _ = {name}[0];\n"));
    }
    text.push_str("}\n\n");
    text.push_str(
        "// The grads buffer: projections' cotangents, the lanes' shares of the replicated ones,
// inputs' and initial states' gradients, accumulators (`GradientLayout`).
fn replicated_base() -> u32 { return settings.batch * settings.steps * COLUMNS; }
fn share_groups() -> u32 { return (settings.lanes + C - 1u) / C; }
fn input_grad_base() -> u32 { return replicated_base() + share_groups() * settings.batch * settings.steps * REPLICATED_WORDS; }
fn init_grad_base() -> u32 { return input_grad_base() + settings.batch * settings.steps * INPUT_WORDS; }
fn partials_base() -> u32 { return init_grad_base() + settings.batch * STATE_WORDS; }

fn load_prev(b: u32, t: u32, lane: u32) -> array<f32, K> {
    if t == 0u { return load_init(b, lane); }
    return load_state(b, t - 1u, lane);
}

",
    );
    text.push_str(FUNCTIONS);
    text.push('\n');
    text.push_str(&emitter.parts);
    text.push_str(&body);
    if scan.is_some() {
        text.push_str(super::AFFINE);
        text.push('\n');
        text.push_str(SCAN);
        text.push('\n');
    }
    text.push_str(SEQUENTIAL);
    text.push_str(&super::shares::text(plan));
    validate(&derived.cell.name, &text)?;
    let projected = plan.raw.iter().filter(|(value, _)| matches!(value, RawValue::Projection { .. })).count();
    let writes_every_projection = plan.adjoint(derived).projections.len() == projected;
    Ok(AdjointKernels { text, bindings, scan, accumulators, accumulator_len, writes_every_projection })
}

/// Refuses a cell whose input is held whole by every lane (lanes of whole
/// rows) and has an elementwise cotangent: its lanes' shares would need a sum
/// the backward does not make.
fn replicated_inputs_have_no_cotangent(derived: &Derived, plan: &KernelPlan) -> Result<(), Error> {
    if !matches!(plan.mode, LaneMode::Rows { .. }) {
        return Ok(());
    }
    for (i, node) in plan.adjoint(derived).inputs.iter().enumerate() {
        let input = &derived.cell.inputs[Handle::from_index(i)];
        if node.is_some() && !plan.windowed(input.size) {
            let reason = format!(
                "the gradient of input `{}` would be a sum over the lanes of whole rows, which the backward does not make",
                input.name
            );
            return Err(super::refusal::of_cell(derived, reason).with_hint(super::CPU_RUNS_IT));
        }
    }
    Ok(())
}
