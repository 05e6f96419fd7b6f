//! A cell compiled for one GPU and bound sizes, and its forward pass: upload, the
//! projection kernels, the recurrence (Newton or sequential), read back.

use std::time::Instant;

use rnnc_compiler::Derived;
use rnnc_compiler::backend::wgsl::{
    self, AdjointKernels, Buffer, GpuKernels, NewtonShape, PROJECTION_TILE, SEQUENTIAL_LANES, Target,
};
use rnnc_compiler::check::DimSizes;

use super::device::{Gpu, GpuError};
use super::kernel::{Binding, Kernel};
use super::memory::GpuBuffer;
use crate::data::BoundData;
use crate::solve::{ForwardReport, Method, NewtonSettings};

/// A cell's kernels compiled on a device, for bound sizes.
pub struct GpuCell {
    kernels: GpuKernels,
    /// The backward kernels' WGSL (compiled on the first backward pass), or why
    /// the cell has none.
    pub(super) adjoint: Result<AdjointKernels, String>,
    max_batch_chunk: Option<usize>,
    projection: std::sync::Arc<Kernel>,
    newton: Option<std::sync::Arc<Kernel>>,
    sequential: std::sync::Arc<Kernel>,
}

/// The environment variable that overrides the steps per Newton chunk (tuning).
pub const CHUNK_ENV: &str = "RNNC_NEWTON_CHUNK";

/// Steps per dispatch of the sequential kernels, for one unknown per lane.
const SEQUENTIAL_WINDOW: usize = 16_384;
/// About the steps per dispatch of the Newton and reverse-scan kernels (whole
/// segments): llvmpipe ends an invocation after 65,535 loop iterations in all,
/// and a dense lane's Jacobians loop over its K x K entries at every step.
const NEWTON_WINDOW: usize = 1024;

/// The outputs of a forward pass, one `[B, T, size]` buffer per cell output.
pub type Outputs = Vec<Vec<f32>>;

impl GpuCell {
    /// Generates the cell's kernels for `dims` and compiles them on `gpu`.
    pub fn compile(gpu: &Gpu, derived: &Derived, dims: &DimSizes) -> Result<GpuCell, GpuError> {
        let target = Target {
            max_threads: gpu.max_threads_per_workgroup(),
            workgroup_bytes: gpu.max_workgroup_bytes(),
            chunk_len: std::env::var(CHUNK_ENV).ok().and_then(|v| v.parse().ok()),
        };
        let kernels = wgsl::generate(derived, dims, &target).map_err(|e| GpuError::Codegen(e.to_string()))?;
        let label = format!("{} recurrence", derived.cell.name);
        let projection = gpu.kernel("projection", wgsl::PROJECTION, "main")?;
        let newton = match kernels.newton {
            Some(_) => Some(gpu.kernel(&label, &kernels.recurrence, "newton")?),
            None => None,
        };
        let sequential = gpu.kernel(&label, &kernels.recurrence, "sequential")?;
        let adjoint = wgsl::generate_adjoint(derived, dims, &kernels.plan, kernels.newton).map_err(|e| e.to_string());
        Ok(GpuCell { kernels, adjoint, max_batch_chunk: None, projection, newton, sequential })
    }

    /// The generated kernels.
    pub fn kernels(&self) -> &GpuKernels {
        &self.kernels
    }

    /// The method `auto` picks for `batch` sequences of `steps` on `gpu`, and why.
    pub fn choose_method(&self, gpu: &Gpu, batch: usize, steps: usize) -> (Method, String) {
        let Some(shape) = self.kernels.newton else {
            return (Method::Sequential, "the Jacobian is dense and too large for Newton".to_owned());
        };
        // The sequential kernel has B x lanes threads, each walking T steps; Newton
        // walks ~4 iterations x (2 N + log2 S) dependent steps per segment of S N.
        let sequential_depth = steps as f64;
        let segments = (steps as f64 / shape.segment() as f64).ceil();
        let newton_depth = segments * 4.0 * (2.0 * shape.chunk_len as f64 + (shape.chunks as f64).log2() * 2.0);
        let sequential_threads = (batch as u64 * self.kernels.plan.lanes) as f64;
        let parallel = if gpu.is_cpu() { 8.0 } else { 65_536.0 };
        let sequential_time = sequential_depth * (sequential_threads / parallel).max(1.0);
        let newton_work = 8.0 * sequential_threads * steps as f64 / parallel;
        let newton_time = newton_depth.max(newton_work);
        if newton_time < sequential_time {
            (Method::Newton, format!("auto: estimated {:.0}x faster than sequential", sequential_time / newton_time))
        } else {
            (Method::Sequential, format!("auto: estimated {:.1}x faster than Newton", newton_time / sequential_time))
        }
    }

    /// The most sequences one pass may hold: every buffer within the device's
    /// binding size, and the batch within one dispatch dimension.
    pub(super) fn batch_chunk(&self, gpu: &Gpu, batch: usize, steps: usize) -> usize {
        let plan = &self.kernels.plan;
        let inputs = plan.input_sizes.iter().sum::<u64>();
        // The backward pass's grads buffer holds the projections' and the inputs'
        // cotangents side by side.
        let words_per_sequence = [
            plan.projection_columns + inputs,
            plan.output_sizes.iter().sum::<u64>(),
            plan.state_sizes.iter().sum::<u64>(),
        ]
        .into_iter()
        .max()
        .unwrap_or(1)
        .max(1)
            * steps as u64;
        let fits = (gpu.max_binding_bytes() / (4 * words_per_sequence)).max(1);
        let limit = self.max_batch_chunk.map_or(u64::MAX, |n| n.max(1) as u64);
        fits.min(u64::from(gpu.max_workgroups_per_dimension())).min(limit).min(batch.max(1) as u64) as usize
    }

    /// Caps the sequences per pass (normally set by the device's limits), e.g. to
    /// test the splitting of large batches.
    pub fn set_max_batch_chunk(&mut self, sequences: Option<usize>) {
        self.max_batch_chunk = sequences;
    }

    /// Runs the cell forward over `data`. Batches too large for one pass (buffer
    /// binding size, dispatch dimensions) run in several, one after another.
    pub fn forward(
        &self,
        gpu: &Gpu,
        data: &BoundData,
        method: Method,
        settings: &NewtonSettings,
    ) -> Result<(Outputs, ForwardReport), GpuError> {
        let run = self.prepare(gpu, data, method)?;
        let mut outputs: Outputs = vec![Vec::new(); self.kernels.plan.output_sizes.len()];
        let mut total = PassStats::default();
        for first in (0..data.batch()).step_by(run.chunk) {
            let pass = self.pass(data, first, run.chunk);
            let solved = self.solve_pass(gpu, &run, &pass, settings, false)?;
            for (all, part) in outputs.iter_mut().zip(self.read_outputs(gpu, &solved, &pass)?) {
                all.extend(part);
            }
            total.merge(&solved.stats);
        }
        Ok((outputs, run.report(gpu, &total)))
    }

    /// What every pass of a run shares: the method, the parameters on the device.
    pub(super) fn prepare(&self, gpu: &Gpu, data: &BoundData, method: Method) -> Result<Run, GpuError> {
        let plan = &self.kernels.plan;
        let (batch, steps) = (data.batch(), data.seq_len());
        let (method, reason) = method.resolve(self.newton.is_some(), || self.choose_method(gpu, batch, steps));
        let params: Vec<f32> = data.params().iter().flat_map(|t| t.data().iter().copied()).collect();
        let params = gpu.upload("params", &params)?;
        let mut weights = Vec::new();
        for group in &plan.projections {
            let stacked: Vec<f32> =
                group.params.iter().flat_map(|&(p, _)| data.params()[p.index()].data().iter().copied()).collect();
            weights.push(gpu.upload("projection weights", &stacked)?);
        }
        Ok(Run { method, reason, params, weights, chunk: self.batch_chunk(gpu, batch, steps) })
    }

    /// The sequences `first..first + chunk` (or fewer, at the end) of `data`.
    pub(super) fn pass(&self, data: &BoundData, first: usize, chunk: usize) -> Pass {
        let plan = &self.kernels.plan;
        let steps = data.seq_len();
        let sequences = chunk.min(data.batch() - first);
        // Each input [B, T, D] and state [B, H] is batch-major: a pass takes rows.
        let rows_of = |tensors: &[crate::data::Tensor], per_sequence: &[u64]| -> Vec<f32> {
            tensors
                .iter()
                .zip(per_sequence)
                .flat_map(|(t, &n)| {
                    let n = n as usize;
                    t.data()[first * n..(first + sequences) * n].iter().copied()
                })
                .collect()
        };
        let per_step: Vec<u64> = plan.input_sizes.iter().map(|&d| d * steps as u64).collect();
        Pass {
            inputs: rows_of(data.inputs(), &per_step),
            inits: rows_of(data.inits(), &plan.state_sizes),
            first,
            batch: sequences,
            steps,
        }
    }

    /// The settings words of one dispatch.
    pub(super) fn settings_words(
        &self,
        pass: &Pass,
        settings: &NewtonSettings,
        window: (u32, u32),
        save_states: bool,
    ) -> [u32; 9] {
        [
            pass.batch as u32,
            pass.steps as u32,
            self.kernels.plan.lanes as u32,
            settings.max_iterations,
            settings.atol.to_bits(),
            settings.rtol.to_bits(),
            window.0,
            window.1,
            u32::from(save_states),
        ]
    }

    /// One pass over `pass.batch` sequences: upload, project, recur (keeping
    /// every state when `save_states`); the results stay on the device.
    pub(super) fn solve_pass(
        &self,
        gpu: &Gpu,
        run: &Run,
        pass: &Pass,
        settings: &NewtonSettings,
        save_states: bool,
    ) -> Result<SolvedPass, GpuError> {
        let plan = &self.kernels.plan;
        let (batch, steps) = (pass.batch, pass.steps);
        let inputs = gpu.upload("inputs", &pass.inputs)?;
        let init = gpu.upload("init", &pass.inits)?;
        let rows = (batch * steps) as u64;
        let projections = gpu.zeroed("projections", (rows * plan.projection_columns) as usize)?;
        let output_words: u64 = plan.output_sizes.iter().sum::<u64>() * rows;
        let outputs = gpu.zeroed("outputs", output_words as usize)?;
        let state_words = if save_states { plan.state_sizes.iter().sum::<u64>() * rows } else { 1 };
        let states = gpu.zeroed("states", state_words as usize)?;
        let groups_x = |per: u64| plan.lanes.div_ceil(per).max(1) as u32;
        let (entry, grid, shape) = match (run.method, &self.newton, self.kernels.newton) {
            (Method::Newton, Some(kernel), Some(shape)) => {
                (kernel, [groups_x(shape.lanes), batch as u32, 1], Some(shape))
            }
            _ => (&self.sequential, [groups_x(SEQUENTIAL_LANES), batch as u32, 1], None),
        };
        let stats = gpu.zeroed("stats", (grid[0] as usize * batch * 4).max(4 * batch))?;
        // Long sequences are walked in windows of steps, one dispatch each.
        let windows = windows(steps, shape, plan.unknowns);
        let mut settings_buffers = Vec::new();
        for &window in &windows {
            settings_buffers.push(gpu.upload("settings", &self.settings_words(pass, settings, window, save_states))?);
        }
        let sizes_buffers = self.projection_sizes(gpu, rows)?;
        gpu.wait()?;

        let start = Instant::now();
        self.project(gpu, run, &inputs, &projections, &sizes_buffers, rows)?;
        // Timing the phases apart costs one wait; it is what `rnnc bench` reports.
        gpu.wait()?;
        let projection_ms = start.elapsed().as_secs_f64() * 1e3;
        for settings_buffer in &settings_buffers {
            let bindings: Vec<Binding<'_>> = self
                .kernels
                .bindings
                .iter()
                .map(|buffer| {
                    Binding(match buffer {
                        Buffer::Settings => settings_buffer,
                        Buffer::Stats => &stats,
                        Buffer::Projections => &projections,
                        Buffer::Params => &run.params,
                        Buffer::Inputs => &inputs,
                        Buffer::Init => &init,
                        Buffer::Outputs => &outputs,
                        // The forward kernels bind no cotangents and no gradients.
                        Buffer::States | Buffer::Douts | Buffer::Grads => &states,
                    })
                })
                .collect();
            gpu.dispatch(entry, &bindings, grid)?;
        }
        gpu.wait()?;
        let time_ms = start.elapsed().as_secs_f64() * 1e3;

        let stats: Vec<u32> = gpu.read(&stats)?;
        let groups = grid[0] as usize * batch;
        let mut pass_stats = PassStats { time_ms, projection_ms, ..PassStats::default() };
        match shape {
            Some(shape) => {
                for group in stats.chunks(4).take(groups) {
                    pass_stats.iterations = pass_stats.iterations.max(group[0]);
                    pass_stats.fallbacks += u64::from(group[1]);
                    pass_stats.residual = pass_stats.residual.max(f32::from_bits(group[2]));
                }
                pass_stats.segments = (steps as u64).div_ceil(shape.segment()).max(1) * groups as u64;
            }
            None => {
                pass_stats.iterations = 1;
                pass_stats.segments = groups as u64;
            }
        }
        Ok(SolvedPass { inputs, projections, outputs, states, stats: pass_stats })
    }

    /// The size words of each projection launch, for `rows` steps.
    fn projection_sizes(&self, gpu: &Gpu, rows: u64) -> Result<Vec<GpuBuffer>, GpuError> {
        let plan = &self.kernels.plan;
        let mut buffers = Vec::new();
        for group in &plan.projections {
            let n: u64 = group.params.iter().map(|&(_, r)| r).sum();
            let offset = rows * plan.input_prefix[group.input.index()];
            let words = [
                rows as u32,
                n as u32,
                group.depth as u32,
                offset as u32,
                plan.projection_columns as u32,
                group.column as u32,
                0,
                0,
            ];
            buffers.push(gpu.upload("projection sizes", &words)?);
        }
        Ok(buffers)
    }

    /// Dispatches the projection kernels: every hoisted `W @ x` of `rows` steps.
    fn project(
        &self,
        gpu: &Gpu,
        run: &Run,
        inputs: &GpuBuffer,
        projections: &GpuBuffer,
        sizes: &[GpuBuffer],
        rows: u64,
    ) -> Result<(), GpuError> {
        for ((group, weight), sizes) in self.kernels.plan.projections.iter().zip(&run.weights).zip(sizes) {
            let n: u64 = group.params.iter().map(|&(_, r)| r).sum();
            let grid = [n.div_ceil(PROJECTION_TILE) as u32, rows.div_ceil(PROJECTION_TILE) as u32, 1];
            gpu.dispatch(
                &self.projection,
                &[Binding(sizes), Binding(inputs), Binding(weight), Binding(projections)],
                grid,
            )?;
        }
        Ok(())
    }

    /// Reads a solved pass's outputs back, one `[B, T, size]` buffer per output.
    pub(super) fn read_outputs(&self, gpu: &Gpu, solved: &SolvedPass, pass: &Pass) -> Result<Outputs, GpuError> {
        let rows = pass.batch * pass.steps;
        let all: Vec<f32> = gpu.read(&solved.outputs)?;
        let mut split = Vec::new();
        let mut offset = 0usize;
        for &size in &self.kernels.plan.output_sizes {
            let len = rows * size as usize;
            split.push(all[offset..offset + len].to_vec());
            offset += len;
        }
        Ok(split)
    }
}

/// The windows of steps the kernels walk, one dispatch each: whole segments of
/// the Newton kernel's `shape` (about [`NEWTON_WINDOW`] steps), or steps of the
/// sequential kernels ([`SEQUENTIAL_WINDOW`] over the square of the lane's
/// `unknowns`, as a lane's step loops over its K x K entries, but at least 64).
pub(super) fn windows(steps: usize, shape: Option<NewtonShape>, unknowns: u64) -> Vec<(u32, u32)> {
    let window = match shape {
        Some(shape) => {
            let segment = shape.segment() as usize;
            segment * (NEWTON_WINDOW / segment).max(1)
        }
        None => (SEQUENTIAL_WINDOW / (unknowns * unknowns).max(1) as usize).max(64),
    };
    (0..steps.max(1)).step_by(window).map(|t| (t as u32, (t + window).min(steps) as u32)).collect()
}

/// What every pass of a run shares.
pub(super) struct Run {
    pub(super) method: Method,
    reason: String,
    pub(super) params: GpuBuffer,
    pub(super) weights: Vec<GpuBuffer>,
    /// Sequences per pass.
    pub(super) chunk: usize,
}

impl Run {
    /// The report of a run whose passes did `total`.
    pub(super) fn report(&self, gpu: &Gpu, total: &PassStats) -> ForwardReport {
        ForwardReport {
            backend: "gpu".to_owned(),
            device: gpu.describe(),
            method: self.method.name().to_owned(),
            method_reason: self.reason.clone(),
            iterations: total.iterations,
            converged: total.fallbacks == 0,
            residual: total.residual,
            fallback_segments: total.fallbacks,
            segments: total.segments,
            time_ms: total.time_ms,
            projection_ms: Some(total.projection_ms),
            backward_ms: None,
            gradient_products_ms: None,
        }
    }
}

/// The data of one pass: a contiguous range of the batch's sequences.
pub(super) struct Pass {
    pub(super) inputs: Vec<f32>,
    pub(super) inits: Vec<f32>,
    /// The first sequence's index in the batch.
    pub(super) first: usize,
    pub(super) batch: usize,
    pub(super) steps: usize,
}

/// A pass's results on the device.
pub(super) struct SolvedPass {
    pub(super) inputs: GpuBuffer,
    pub(super) projections: GpuBuffer,
    pub(super) outputs: GpuBuffer,
    /// Every state after every step (one word when not kept).
    pub(super) states: GpuBuffer,
    pub(super) stats: PassStats,
}

/// What one pass did, and the sum of several.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct PassStats {
    iterations: u32,
    fallbacks: u64,
    residual: f32,
    segments: u64,
    time_ms: f64,
    projection_ms: f64,
}

impl PassStats {
    pub(super) fn merge(&mut self, other: &PassStats) {
        self.iterations = self.iterations.max(other.iterations);
        self.fallbacks += other.fallbacks;
        self.residual = self.residual.max(other.residual);
        self.segments += other.segments;
        self.time_ms += other.time_ms;
        self.projection_ms += other.projection_ms;
    }
}
