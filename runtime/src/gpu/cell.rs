//! A cell compiled for one GPU and bound sizes, and its forward pass: upload, the
//! projection kernels, the recurrence (Newton or sequential), read back.

use std::time::Instant;

use rnnc_compiler::Derived;
use rnnc_compiler::backend::wgsl::{self, Buffer, GpuKernels, PROJECTION_TILE, SEQUENTIAL_LANES, Target};
use rnnc_compiler::check::DimSizes;

use super::device::{Gpu, GpuError};
use super::kernel::{Binding, Kernel};
use super::memory::GpuBuffer;
use crate::data::BoundData;
use crate::solve::{ForwardReport, Method, NewtonSettings};

/// A cell's kernels compiled on a device, for bound sizes.
pub struct GpuCell {
    kernels: GpuKernels,
    max_batch_chunk: Option<usize>,
    projection: std::sync::Arc<Kernel>,
    newton: Option<std::sync::Arc<Kernel>>,
    sequential: std::sync::Arc<Kernel>,
}

/// The environment variable that overrides the steps per Newton chunk (tuning).
pub const CHUNK_ENV: &str = "RNNC_NEWTON_CHUNK";

/// Steps per dispatch of the sequential kernel.
const SEQUENTIAL_WINDOW: usize = 16_384;

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
        Ok(GpuCell { kernels, max_batch_chunk: None, projection, newton, sequential })
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
    fn batch_chunk(&self, gpu: &Gpu, batch: usize, steps: usize) -> usize {
        let plan = &self.kernels.plan;
        let words_per_sequence =
            [plan.projection_columns, plan.output_sizes.iter().sum::<u64>(), plan.input_sizes.iter().sum::<u64>()]
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
        let chunk = self.batch_chunk(gpu, batch, steps);
        let mut outputs: Outputs = vec![Vec::new(); plan.output_sizes.len()];
        let mut total = PassStats::default();
        for first in (0..batch).step_by(chunk) {
            let sequences = chunk.min(batch - first);
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
            let pass = Pass {
                inputs: rows_of(data.inputs(), &per_step),
                inits: rows_of(data.inits(), &plan.state_sizes),
                batch: sequences,
                steps,
            };
            let (pass_outputs, stats) = self.run_pass(gpu, &params, &weights, &pass, method, settings)?;
            for (all, part) in outputs.iter_mut().zip(pass_outputs) {
                all.extend(part);
            }
            total.merge(&stats);
        }
        let report = ForwardReport {
            backend: "gpu".to_owned(),
            device: gpu.describe(),
            method: method.name().to_owned(),
            method_reason: reason,
            iterations: total.iterations,
            converged: total.fallbacks == 0,
            residual: total.residual,
            fallback_segments: total.fallbacks,
            segments: total.segments,
            time_ms: total.time_ms,
            projection_ms: Some(total.projection_ms),
            backward_ms: None,
        };
        Ok((outputs, report))
    }

    /// One pass over `pass.batch` sequences: upload, project, recur, read back.
    fn run_pass(
        &self,
        gpu: &Gpu,
        params: &GpuBuffer,
        weights: &[GpuBuffer],
        pass: &Pass,
        method: Method,
        settings: &NewtonSettings,
    ) -> Result<(Outputs, PassStats), GpuError> {
        let plan = &self.kernels.plan;
        let (batch, steps) = (pass.batch, pass.steps);
        let inputs = gpu.upload("inputs", &pass.inputs)?;
        let init = gpu.upload("init", &pass.inits)?;
        let rows = (batch * steps) as u64;
        let projections = gpu.zeroed("projections", (rows * plan.projection_columns) as usize)?;
        let output_words: u64 = plan.output_sizes.iter().sum::<u64>() * rows;
        let outputs = gpu.zeroed("outputs", output_words as usize)?;
        let groups_x = |per: u64| plan.lanes.div_ceil(per).max(1) as u32;
        let (entry, grid, shape) = match (method, &self.newton, self.kernels.newton) {
            (Method::Newton, Some(kernel), Some(shape)) => {
                (kernel, [groups_x(shape.lanes), batch as u32, 1], Some(shape))
            }
            _ => (&self.sequential, [groups_x(SEQUENTIAL_LANES), batch as u32, 1], None),
        };
        let stats = gpu.zeroed("stats", (grid[0] as usize * batch * 4).max(4 * batch))?;
        // The sequential kernel walks windows of steps, one dispatch each.
        let windows: Vec<(u32, u32)> = match shape {
            Some(_) => vec![(0, steps as u32)],
            None => (0..steps)
                .step_by(SEQUENTIAL_WINDOW)
                .map(|t| (t as u32, (t + SEQUENTIAL_WINDOW).min(steps) as u32))
                .collect(),
        };
        let mut settings_buffers = Vec::new();
        for &(first, last) in &windows {
            let words = [
                batch as u32,
                steps as u32,
                plan.lanes as u32,
                settings.max_iterations,
                settings.atol.to_bits(),
                settings.rtol.to_bits(),
                first,
                last,
            ];
            settings_buffers.push(gpu.upload("settings", &words)?);
        }
        let mut sizes_buffers = Vec::new();
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
            sizes_buffers.push(gpu.upload("projection sizes", &words)?);
        }
        gpu.wait()?;

        let start = Instant::now();
        for ((group, weight), sizes) in plan.projections.iter().zip(weights).zip(&sizes_buffers) {
            let n: u64 = group.params.iter().map(|&(_, r)| r).sum();
            let grid = [n.div_ceil(PROJECTION_TILE) as u32, rows.div_ceil(PROJECTION_TILE) as u32, 1];
            gpu.dispatch(
                &self.projection,
                &[Binding(sizes), Binding(&inputs), Binding(weight), Binding(&projections)],
                grid,
            )?;
        }
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
                        Buffer::Params => params,
                        Buffer::Inputs => &inputs,
                        Buffer::Init => &init,
                        Buffer::Outputs => &outputs,
                    })
                })
                .collect();
            gpu.dispatch(entry, &bindings, grid)?;
        }
        gpu.wait()?;
        let time_ms = start.elapsed().as_secs_f64() * 1e3;

        let all: Vec<f32> = gpu.read(&outputs)?;
        let stats: Vec<u32> = gpu.read(&stats)?;
        let mut split = Vec::new();
        let mut offset = 0usize;
        for &size in &plan.output_sizes {
            let len = (rows * size) as usize;
            split.push(all[offset..offset + len].to_vec());
            offset += len;
        }
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
        Ok((split, pass_stats))
    }
}

/// The data of one pass: a contiguous range of the batch's sequences.
struct Pass {
    inputs: Vec<f32>,
    inits: Vec<f32>,
    batch: usize,
    steps: usize,
}

/// What one pass did, and the sum of several.
#[derive(Clone, Copy, Debug, Default)]
struct PassStats {
    iterations: u32,
    fallbacks: u64,
    residual: f32,
    segments: u64,
    time_ms: f64,
    projection_ms: f64,
}

impl PassStats {
    fn merge(&mut self, other: &PassStats) {
        self.iterations = self.iterations.max(other.iterations);
        self.fallbacks += other.fallbacks;
        self.residual = self.residual.max(other.residual);
        self.segments += other.segments;
        self.time_ms += other.time_ms;
        self.projection_ms += other.projection_ms;
    }
}
