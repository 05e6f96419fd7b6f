//! The WGSL back end: a cell's GPU kernels as WGSL text, validated by naga.
//!
//! A cell runs on the GPU as two kernels: the *projections* (matrix products
//! computing every hoisted `W @ x` for all B x T steps, [`gemm`], with the
//! plan's *stages* between them: elementwise passes computing a computed
//! operand `v` of a staged product `W2 @ v` for all steps, [`stage`]) and the
//! *recurrence*, made of the cell's lane program ([`emit`]: how one lane
//! loads its values, steps, linearises and stores) followed by the solver templates:
//! `newton.wgsl` (the fused Newton kernel) and `sequential.wgsl`. The [`plan`] says
//! how the state is cut into lanes and where every tensor lives in the buffers; the
//! runtime lays its buffers out by it. Kernels are generated for bound sizes, so
//! every size is a constant.

pub mod adjoint;
mod emit;
pub mod gather;
pub mod gemm;
pub mod interface;
mod lane;
pub mod plan;
pub mod refusal;
pub mod rows;
pub mod shares;
pub mod stage;

use crate::Derived;
use crate::check::DimSizes;
use crate::error::{Error, ErrorKind};
/// The workgroups of a one-thread-per-item kernel of `threads` per workgroup
/// over `items`, in rows of at most `max_per_dimension` workgroups (the
/// kernel's index is `x + y * groups.x * threads`).
pub fn grid_in_rows(items: u64, threads: u64, max_per_dimension: u32) -> [u32; 3] {
    let groups = items.div_ceil(threads).max(1);
    let x = groups.min(u64::from(max_per_dimension.max(1)));
    [x as u32, groups.div_ceil(x) as u32, 1]
}

pub use adjoint::{Accumulator, AccumulatorKind, AdjointKernels, GradientLayout, generate_adjoint};
pub use gather::{COPY_THREADS, GatherTable, copy_text, gather_text};
pub use gemm::{
    GEMM_SEGMENT_MULTIPLE, GEMM_TILE, GemmAblation, GemmKernel, GemmLaunch, GemmLayout, TransposeLaunch,
    gemm_segment_fits,
};
pub use interface::{GatherSizes, GemmSizes, Settings, Stats};
pub use plan::{KernelPlan, LaneMode, ProjectionLayout, RawValue};
pub use stage::{STAGE_THREADS, StageKernels, StagePartial, generate_stages};

/// What every recurrence, backward and stage kernel binds first: the run's
/// settings; and the pipeline constant of the projections' layout that its
/// pipeline is created with ([`ProjectionLayout::pipeline_constants`]).
fn settings_binding() -> String {
    format!(
        "// The run's settings (`interface::Settings`): `first` and `last` bound the steps one\n\
         // dispatch walks; `save_states` asks the forward kernels to keep every state.\n\
         {}@group(0) @binding(0) var<storage, read> settings: Settings;\n\
         // How the projections are laid out (`ProjectionLayout`), fixed when the pipeline is made.\n\
         override {}: bool = false;\n",
        Settings::wgsl(),
        plan::PROJECTIONS_BY_COLUMN
    )
}

/// The forward kernels' second binding: one [`Stats`] record per workgroup.
fn stats_binding() -> String {
    format!(
        "// Per workgroup: the most iterations of any segment, segments that fell back to the\n\
         // sequential method, and the largest final update.\n\
         {}@group(0) @binding(1) var<storage, read_write> stats: array<Stats>;\n",
        Stats::wgsl()
    )
}

/// The scans' affine-map algebra (compose, apply), shared by the Newton and
/// reverse-scan templates.
pub(super) const AFFINE: &str = include_str!("affine.wgsl");
const NEWTON: &str = include_str!("newton.wgsl");
const SEQUENTIAL: &str = include_str!("sequential.wgsl");

/// The storage buffers of the recurrence kernel, in binding order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buffer {
    /// The run's settings (`Settings` in `settings.wgsl`).
    Settings,
    /// Per-workgroup statistics, 4 words each.
    Stats,
    /// The projections, `[B * T, plan.projection_columns]`.
    Projections,
    /// Every parameter, at `plan.param_offsets`.
    Params,
    /// Every input, `[B, T, size]` each, at `B * T * plan.input_prefix[i]`.
    Inputs,
    /// Every initial state, `[B, size]` each, at `B * plan.state_prefix[s]`; the
    /// sequential kernel leaves its last state there.
    Init,
    /// Every output, `[B, T, size]` each, at `B * T * plan.output_prefix[o]`.
    Outputs,
    /// Every state after every step, `[B, T, size]` each, at `B * T *
    /// plan.state_prefix[s]`: written by the forward kernels when
    /// `settings.save_states` is set, read by the backward kernels.
    States,
    /// The outputs' cotangents, laid out like [`Buffer::Outputs`].
    Douts,
    /// What the backward kernels write, at the offsets of [`GradientLayout`].
    Grads,
    /// The staged operands, `[B * T, plan.cell.stages.columns]` (stage kernels).
    Staged,
    /// Their cotangents, laid out like [`Buffer::Staged`] (stage kernels).
    StagedGrads,
    /// The vector parameters' per-step shares from the stages,
    /// `[B * T, StageKernels::partial_columns]`.
    StagePartials,
}

/// How the Newton kernel's workgroups are shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewtonShape {
    /// Lanes per workgroup (`C`).
    pub lanes: u64,
    /// Chunks per segment (`S`).
    pub chunks: u64,
    /// Steps per chunk (`N`).
    pub chunk_len: u64,
}

impl NewtonShape {
    /// Steps per segment.
    pub fn segment(&self) -> u64 {
        self.chunks * self.chunk_len
    }
}

/// Lanes per workgroup of the sequential kernel.
pub const SEQUENTIAL_LANES: u64 = 64;

/// A cell's GPU kernels for bound sizes.
#[derive(Clone, Debug)]
pub struct GpuKernels {
    /// The plan the kernels follow.
    pub plan: KernelPlan,
    /// The recurrence kernels' WGSL: entry points `sequential` and, when
    /// `newton` is some, `newton`.
    pub recurrence: String,
    /// The buffers the recurrence binds, in binding order.
    pub bindings: Vec<Buffer>,
    /// The Newton kernel's workgroup shape, if there is a Newton kernel.
    pub newton: Option<NewtonShape>,
    /// How the projections are laid out for the Newton kernel (the sequential
    /// kernel reads them step by step): [`ProjectionLayout::for_newton`].
    pub newton_projections: ProjectionLayout,
    /// Why there is no Newton kernel, if there is none.
    pub no_newton: Option<String>,
    /// Steps per group of the sequential kernel's software pipeline (1: none).
    pub pipeline_group: u64,
    /// The matrix-product kernel's shape for the target (projections and their
    /// gradients).
    pub gemm: GemmKernel,
    /// The stage kernels, when the plan has stages.
    pub stages: Option<StageKernels>,
}

/// What the kernels may use of the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// Threads per workgroup.
    pub max_threads: u64,
    /// Workgroup memory, in bytes.
    pub workgroup_bytes: u64,
    /// Steps per Newton chunk, if not the default for the cell's `K` (a tuning
    /// knob, or a CPU device's [`LLVMPIPE_CHUNK_LEN`]).
    pub chunk_len: Option<u64>,
    /// The longest group of the sequential kernel's software pipeline (see
    /// `pipeline_group`): 32 on GPUs; small on CPU devices (lavapipe), whose
    /// shader compiler takes seconds over long groups and whose threads gain
    /// nothing from them.
    pub pipeline_group: u64,
    /// The matrix-product kernel's shape, if not the deepest that fits (a tuning
    /// and measurement knob).
    pub gemm: Option<GemmKernel>,
    /// The most unknowns a lane may have for a Newton kernel on this device,
    /// where the device limits it (see [`LLVMPIPE_NEWTON_UNKNOWNS`]).
    pub newton_unknowns: Option<u64>,
    /// The Newton kernel's workgroup shape, if chosen (a tuning knob).
    pub newton_knobs: NewtonKnobs,
}

/// The Newton kernel's workgroup shape, if not the measured default, and its
/// initial guess (tuning and measurements; `RNNC_NEWTON`, e.g.
/// `threads=512,lanes=2`, `chained=0`, `sweeps=2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewtonKnobs {
    /// Threads per workgroup (a power of two).
    pub threads: Option<u64>,
    /// Lanes per workgroup (a power of two).
    pub lanes: Option<u64>,
    /// Whether Newton's initial guess chains each chunk's steps from the
    /// segment's start state (the default) rather than taking every step
    /// from it (`chained=0`). H200, docs/measurements/h200-run64 (B = 1,
    /// N = 256, T = 65536): ParaLSTM 0.970 -> 0.880 ms (4 -> 3 iterations),
    /// ParaGRU 0.644 -> 0.634 (4 -> 3), block_elman 2.996 -> 2.961 (6 -> 5);
    /// at B = 8, N = 1024, T = 8192 no change (1.130 / 1.134, 1.761 / 1.763).
    pub chained: bool,
    /// Sweeps of the initial guess (1 to [`MAX_GUESS_SWEEPS`]; `sweeps=N`):
    /// after the first, each sweep takes every chunk's steps again, chained
    /// from the previous chunk's last guessed state (the segment's start for
    /// the first chunk), so that chunk starts are closer to the solution
    /// before Newton linearises. H200, docs/measurements/h200-run107 (1, 2
    /// and 3 sweeps): ParaGRU N = 1024, B = 8, T = 8192 1.133 -> 1.029 -> 1.137
    /// ms (3 -> 2 -> 2 iterations), ParaLSTM 1.767 -> 1.547 -> 1.755,
    /// block_elman 5.221 -> 3.599 -> 3.105 (8 -> 6 -> 5); at B = 1, N = 256,
    /// T = 65536 ParaGRU 0.645 -> 0.593 -> 0.635, ParaLSTM 0.896 -> 0.795 ->
    /// 0.837, block_elman 3.030 -> 2.233 -> 1.902. Two by default: every
    /// row gains; a third pays only where the iterations still fall.
    pub sweeps: u64,
    /// The projections' layout for the Newton kernel, if not the rule's
    /// ([`ProjectionLayout::for_newton`]; `projections=step` or `column`, a
    /// measurement knob; a cell with staged products keeps step by step).
    pub projections: Option<ProjectionLayout>,
}

/// The most sweeps of Newton's initial guess ([`NewtonKnobs::sweeps`]).
pub const MAX_GUESS_SWEEPS: u64 = 4;

impl Default for NewtonKnobs {
    fn default() -> Self {
        NewtonKnobs { threads: None, lanes: None, chained: true, sweeps: 2, projections: None }
    }
}

impl std::str::FromStr for NewtonKnobs {
    type Err = String;

    fn from_str(text: &str) -> Result<NewtonKnobs, String> {
        let mut knobs = NewtonKnobs::default();
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| format!("`{part}` is not KEY=VALUE"))?;
            if key.trim() == "chained" {
                knobs.chained = match value.trim() {
                    "0" => false,
                    "1" => true,
                    other => return Err(format!("`chained={other}`: 0 or 1")),
                };
                continue;
            }
            if key.trim() == "projections" {
                knobs.projections = Some(match value.trim() {
                    "step" => ProjectionLayout::ByStep,
                    "column" => ProjectionLayout::ByColumn,
                    other => return Err(format!("`projections={other}`: step or column")),
                });
                continue;
            }
            if key.trim() == "sweeps" {
                knobs.sweeps = match value.trim().parse::<u64>() {
                    Ok(n) if (1..=MAX_GUESS_SWEEPS).contains(&n) => n,
                    _ => return Err(format!("`sweeps={}`: 1 to {MAX_GUESS_SWEEPS}", value.trim())),
                };
                continue;
            }
            let count = value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| n.is_power_of_two())
                .ok_or_else(|| format!("`{value}` is not a power of two"))?;
            match key.trim() {
                "threads" => knobs.threads = Some(count),
                "lanes" => knobs.lanes = Some(count),
                _ => return Err(format!("unknown Newton knob `{key}` (threads, lanes, chained, sweeps, projections)")),
            }
        }
        Ok(knobs)
    }
}

/// The most unknowns per lane for Newton on a CPU device (llvmpipe). llvmpipe
/// stops a loop after 65,535 iterations in an invocation and goes on with wrong
/// values, silently; beyond 12 unknowns the Newton kernel's loops over a lane's
/// K x K entries are not unrolled and reach that count within a few segments
/// (lavapipe: cells of 15 and 16 unknowns gave errors of 0.005-0.6 after 2 to 3
/// segments while reporting convergence; 12 unknowns on lavapipe, and 16 on an
/// H200, match the sequential method to 2e-7).
pub const LLVMPIPE_NEWTON_UNKNOWNS: u64 = 12;

/// Steps per Newton chunk on a CPU device (llvmpipe): two keep the loops over a
/// chunk's steps tested, while llvmpipe's shader compiler takes super-linear
/// time in the steps it unrolls. `gpu_backward` on one cell with an empty
/// shader cache (`RNNC_NEWTON_CHUNK=N RNNC_TEST_CELL=gru
/// MESA_SHADER_CACHE_DIR=<empty dir>`, 2 cores): a dense GRU of H = 4 (one lane
/// of 4 unknowns) 266 s at 16 steps (its default), 41 at 4, 19 at 2; an LSTM
/// (8 unknowns) 83 s at 4 steps (its default), 42 at 2.
pub const LLVMPIPE_CHUNK_LEN: u64 = 2;

impl Default for Target {
    /// What every WebGPU device offers.
    fn default() -> Self {
        Target {
            max_threads: 256,
            workgroup_bytes: 16 * 1024,
            chunk_len: None,
            pipeline_group: 32,
            gemm: None,
            newton_unknowns: None,
            newton_knobs: NewtonKnobs::default(),
        }
    }
}

/// Lanes per Newton workgroup: 8 adjacent channels make one 32-byte memory sector.
pub const NEWTON_LANES: u64 = 8;

/// The most words of linearisations (`N (K + K^2)`) a Newton thread keeps from
/// composing its chunk's maps to applying them (`CACHED = N`); beyond, it
/// linearises again (`CACHED = 1`): H200, ParaGRU 1.93 -> 1.71 ms kept; ParaLSTM's
/// 96 words kept spilled, 2.93 -> 4.92 ms (docs/measurements/h200-run11, -run12).
const CACHED_WORDS: u64 = 64;

/// The most words of raw values, times the lane's unknowns, the sequential
/// kernel keeps in flight (two groups of `G` steps), and the most unknowns for
/// which it does.
const PIPELINE_WORDS: u64 = 192;
const PIPELINE_UNKNOWNS: u64 = 2;

/// Steps per group of the sequential kernel's software pipeline (1: the plain
/// loop): the largest power of two up to `target.pipeline_group` whose two groups of raw values,
/// times `K`, fit in [`PIPELINE_WORDS`], for lanes of at most
/// [`PIPELINE_UNKNOWNS`] unknowns. H200, N = 1024, B = 8, T = 8192
/// (docs/measurements/h200-run18, -run19): ParaGRU (K = 1, 3 words a step)
/// 4.27 ms plain, 3.18 with groups of 16, 1.38 with 32; ParaLSTM (K = 2, 3
/// words) 4.35, 1.69 with 16, 5.06 with 32 (spilled); block_elman (K = 4) 5.14
/// plain, 8.7 pipelined.
fn pipeline_group(plan: &KernelPlan, target: &Target) -> u64 {
    if plan.unknowns > PIPELINE_UNKNOWNS {
        return 1;
    }
    let words = plan.raw_len().max(1) * plan.unknowns.max(1);
    let mut group = target.pipeline_group.max(1).next_power_of_two();
    while group > 1 && 2 * group * words > PIPELINE_WORDS {
        group /= 2;
    }
    group
}

/// The most words of vector parameters a thread reads once into registers
/// (`load_lane_params`) rather than at every use.
const LANE_PARAM_WORDS: u64 = 64;

/// The workgroups one sequence's lanes spread over, at least where they can: a
/// cell of few lanes gets workgroups of fewer lanes (down to one), so that
/// even one sequence keeps about as many workgroups as the card has
/// multiprocessors (an H200: 132). Counted in lanes, not unknowns (H200, B = 1,
/// T = 65536, docs/measurements/h200-run54): ParaLSTM at N = 256 (256 lanes of
/// two unknowns) 2 lanes a workgroup 0.98 ms, 4 (the rule by unknowns) 1.50;
/// block_elman (64 lanes of four) 1 lane 3.00 ms, 2 lanes 5.71.
const SEQUENCE_WORKGROUPS: u64 = 128;

/// The Newton kernel's workgroup shape. Measured on an H200
/// (docs/measurements/h200-run31, -run32; N = 1024, B = 8, T = 8192): 1024
/// threads (run 30's shape) ParaGRU 1.47 ms, ParaLSTM 2.36; 256 threads 1.06
/// and 1.78; 128 threads 1.06 and 1.64; 64 1.15 and 1.60 (4 iterations). At
/// B = 1, N = 256, T = 65536: 8 lanes of 1024 threads 1.45 ms, 2 lanes of 1024
/// threads 0.62 (run 36; of 512: 0.71, of 256: 0.97), 4 lanes of 1024 0.88, 1
/// lane of 512 0.81. block_elman (K = 4; its chunk maps fit 256 threads'
/// workgroup memory) 6.15 ms at 256 threads, 6.47 at 128. So: 256 threads for
/// one unknown, 128 for two, and the longest segments (the most threads) for
/// workgroups of few lanes ([`SEQUENCE_WORKGROUPS`]; run 55: block_elman at
/// N = 1024, B = 8, 2 lanes of 128 chunks 5.27 ms against 8 of 32, 6.18);
/// 64 threads for a diagonal lane of more (run 117).
fn newton_shape(plan: &KernelPlan, target: &Target) -> NewtonShape {
    let k = plan.unknowns;
    let wide = (plan.lanes / SEQUENCE_WORKGROUPS).clamp(1, NEWTON_LANES);
    let wide = 1u64 << (63 - wide.leading_zeros());
    let lanes = plan.lanes.next_power_of_two().min(target.newton_knobs.lanes.unwrap_or(wide));
    let measured = match k {
        _ if target.newton_knobs.threads.is_some() || lanes < NEWTON_LANES => target.max_threads,
        0..=1 => 256,
        2 => 128,
        // A diagonal lane of many unknowns (a row of a matrix state):
        // docs/measurements/h200-run117 (mamba_ssm, D = 1024, N = 16, B = 8,
        // T = 2048, 8 lanes of 4-step chunks): 64 threads 2.141 ms, 128 (the
        // most that fit) 2.718, 256 2.722.
        _ if plan.jacobian_block == 1 => 64,
        _ => target.max_threads,
    };
    let per_thread = (k * plan.jacobian_block + 2 * k) * 4;
    let most = target.newton_knobs.threads.unwrap_or(measured).min(target.max_threads).max(1);
    let threads = (target.workgroup_bytes.saturating_sub(64) / per_thread.max(1)).clamp(1, most);
    let threads = 1u64 << (63 - threads.leading_zeros());
    let lanes = lanes.min(threads);
    let chunks = (threads / lanes).max(1);
    // Measured on an H200 (docs/measurements/h200-run13, -run14): 8 steps for
    // one or two unknowns (16: 11-13% slower at B = 8, 6% faster at B = 1), 16
    // for four (8: 14% slower).
    let chunk_len = target.chunk_len.filter(|&n| n > 0).unwrap_or(match k {
        0..=2 => 8,
        3..=4 => 16,
        _ => 4,
    });
    NewtonShape { lanes, chunks, chunk_len }
}

/// The most elements of one value a whole lane's thread holds. A whole lane
/// (a dense Jacobian, or a value read across channels) is one thread a
/// sequence holding every value of the step as an array: beyond this the
/// kernels' private arrays outgrow what drivers compile in reasonable time
/// (a dense GRU of H = 256: lavapipe over 4 minutes for B = 2, T = 2; the
/// H200 failed at H = 256 and had not finished H = 1024 after 60 s:
/// docs/measurements/h200-run58-probe.sh, docs/RELIABILITY.md), and one thread
/// a sequence is slower than the CPU back end's kernels anyway.
pub const WHOLE_LANE_VALUES: u64 = 64;

/// The hint under every refusal of a cell that the CPU back end runs.
pub const CPU_RUNS_IT: &str =
    "the CPU back end runs this cell (`--backend cpu`; `--backend auto`, the default, picks it)";

/// Refuses a whole lane whose values are wider than [`WHOLE_LANE_VALUES`],
/// saying why the state is one lane and where to run the cell instead.
fn whole_lane_fits(derived: &Derived, plan: &KernelPlan) -> Result<(), Error> {
    if matches!(plan.mode, LaneMode::Blocks { .. }) {
        return Ok(());
    }
    let graph = &derived.ir.graph;
    let widest = graph.iter().map(|(_, node)| plan.node_lane_len(node.size())).max().unwrap_or(1);
    if widest <= WHOLE_LANE_VALUES {
        return Ok(());
    }
    let lane = match plan.mode {
        LaneMode::Rows { .. } => format!("one thread a row of the states would hold values of {widest} elements"),
        _ => format!(
            "one thread a sequence would hold every state ({}), with values of {widest} elements",
            plan.whole.as_deref().unwrap_or("one lane")
        ),
    };
    let reason = format!("{lane}, more than the GPU kernels hold in one thread ({WHOLE_LANE_VALUES})");
    Err(refusal::of_whole_lane(derived, reason).with_hint(CPU_RUNS_IT))
}

/// Generates (and validates) the recurrence kernels of `derived` for `dims` and a
/// device offering `target`.
pub fn generate(derived: &Derived, dims: &DimSizes, target: &Target) -> Result<GpuKernels, Error> {
    let plan = plan::plan(derived, dims)?;
    whole_lane_fits(derived, &plan)?;
    let no_newton = if !plan.newton {
        Some(format!(
            "one lane holds every state ({}), {} unknowns, more than Newton takes (at most {})",
            plan.whole.as_deref().unwrap_or("one lane"),
            plan.unknowns,
            crate::plan::Device::Gpu.dense_newton_unknowns()
        ))
    } else {
        target.newton_unknowns.filter(|&limit| plan.unknowns > limit).map(|limit| {
            format!(
                "a lane has {} unknowns, more than Newton takes on this device ({limit}: llvmpipe's loop limit)",
                plan.unknowns
            )
        })
    };
    let newton = no_newton.is_none().then(|| newton_shape(&plan, target));
    let stages = generate_stages(derived, dims, &plan)?;
    let mut emitter = emit::Emitter::new(derived, dims, &plan);
    emitter.lane_params(LANE_PARAM_WORDS);
    emitter.load_hoisted();
    emitter.load_init();
    emitter.step();
    if newton.is_some() {
        emitter.step_jacobian();
    }
    emitter.store();
    emitter.check()?;
    let uses = emitter.uses;
    let body = std::mem::take(&mut emitter.text);

    let mut text = format!(
        "// Recurrence kernels of cell `{}`, generated by rnnc.\n\n{}{}\n",
        derived.cell.name,
        settings_binding(),
        stats_binding()
    );
    let mut bindings = vec![Buffer::Settings, Buffer::Stats];
    let mut declare = |text: &mut String, buffer: Buffer, name: &str, access: &str| {
        text.push_str(&format!("@group(0) @binding({}) var<storage, {access}> {name}: array<f32>;\n", bindings.len()));
        bindings.push(buffer);
    };
    let mut touched = Vec::new();
    if uses.projections {
        declare(&mut text, Buffer::Projections, "projections", "read");
        touched.push("projections");
    }
    if uses.params {
        declare(&mut text, Buffer::Params, "params", "read");
        touched.push("params");
    }
    if uses.inputs {
        declare(&mut text, Buffer::Inputs, "inputs", "read");
        touched.push("inputs");
    }
    declare(&mut text, Buffer::Init, "init", "read_write");
    declare(&mut text, Buffer::Outputs, "outputs", "read_write");
    declare(&mut text, Buffer::States, "states", "read_write");
    text.push('\n');
    let shape = newton.unwrap_or(NewtonShape { lanes: 1, chunks: 1, chunk_len: 1 });
    let group = pipeline_group(&plan, target);
    let cached = if shape.chunk_len * (plan.unknowns + plan.unknowns * plan.jacobian_block) <= CACHED_WORDS {
        shape.chunk_len
    } else {
        1
    };
    emit::write_prelude(
        &mut text,
        &[
            ("K", plan.unknowns),
            ("JB", plan.jacobian_block),
            ("C", shape.lanes),
            ("S", shape.chunks),
            ("N", shape.chunk_len),
            ("CACHED", cached),
            ("LINEAR", u64::from(plan.cell.linear)),
            ("CHAINED_GUESS", u64::from(target.newton_knobs.chained)),
            ("GUESS_SWEEPS", target.newton_knobs.sweeps),
            ("G", pipeline_group(&plan, target)),
        ],
        &[("Raw", plan.raw_len()), ("Pre", plan.hoisted_len())],
    );
    text.push_str("// Every binding is used by every entry point, so they share one layout.\nfn touch_bindings() {\n");
    for name in touched.iter().chain(["init", "outputs", "states"].iter()) {
        text.push_str(&format!("    _ = {name}[0];\n"));
    }
    text.push_str("}\n\n");
    text.push_str(emit::FUNCTIONS);
    text.push('\n');
    text.push_str(&emitter.parts);
    text.push_str(&body);
    if newton.is_some() {
        text.push_str(AFFINE);
        text.push('\n');
        text.push_str(NEWTON);
        text.push('\n');
    }
    text.push_str(SEQUENTIAL);
    validate(&derived.cell.name, &text)?;
    let newton_projections = newton.map_or(ProjectionLayout::ByStep, |shape| {
        ProjectionLayout::for_newton(&plan, shape, target.newton_knobs.projections)
    });
    Ok(GpuKernels {
        plan,
        recurrence: text,
        bindings,
        newton_projections,
        newton,
        pipeline_group: group,
        gemm: GemmKernel::for_target(target),
        no_newton,
        stages,
    })
}

/// Parses and validates WGSL with naga.
pub fn validate(cell: &str, source: &str) -> Result<(naga::Module, naga::valid::ModuleInfo), Error> {
    let invalid = |reason: String| {
        Error::new(
            ErrorKind::InvalidGeneratedCode { language: "WGSL", cell: cell.to_owned(), reason },
            crate::Span::default(),
            "",
        )
    };
    let module = naga::front::wgsl::parse_str(source).map_err(|e| invalid(e.emit_to_string(source)))?;
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
        .validate(&module)
        .map_err(|e| invalid(e.emit_to_string(source)))?;
    Ok((module, info))
}

/// SPIR-V words for validated WGSL (`rnnc compile --emit spirv`), its
/// pipeline-overridable constants at their defaults (the projections step by
/// step).
pub fn spirv(cell: &str, source: &str) -> Result<Vec<u32>, Error> {
    let (module, info) = validate(cell, source)?;
    let invalid = |reason: String| {
        Error::new(
            ErrorKind::InvalidGeneratedCode { language: "SPIR-V", cell: cell.to_owned(), reason },
            crate::Span::default(),
            "",
        )
    };
    let (module, info) = naga::back::pipeline_constants::process_overrides(&module, &info, None, &Default::default())
        .map_err(|e| invalid(e.to_string()))?;
    naga::back::spv::write_vec(&module, &info, &naga::back::spv::Options::default(), None)
        .map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests;
