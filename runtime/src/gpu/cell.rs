//! A cell compiled for one GPU and bound sizes, and its forward pass: upload, the
//! projection kernels, the recurrence (Newton or sequential), read back.

use std::time::Instant;

use rnnc_compiler::Derived;
use rnnc_compiler::backend::wgsl::{self, Buffer, GpuKernels, NewtonShape, PROJECTION_TILE, SEQUENTIAL_LANES, Target};
use rnnc_compiler::check::DimSizes;

use super::device::{Gpu, GpuError};
use super::kernel::{Binding, Kernel};
use crate::data::BoundData;
use crate::solve::{ForwardReport, Method, NewtonSettings};

/// A cell's kernels compiled on a device, for bound sizes.
pub struct GpuCell {
    kernels: GpuKernels,
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
        Ok(GpuCell { kernels, projection, newton, sequential })
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

    /// Runs the cell forward over `data`.
    pub fn forward(
        &self,
        gpu: &Gpu,
        data: &BoundData,
        method: Method,
        settings: &NewtonSettings,
    ) -> Result<(Outputs, ForwardReport), GpuError> {
        let plan = &self.kernels.plan;
        let (batch, steps) = (data.batch(), data.seq_len());
        let (method, reason) = match method {
            Method::Auto => self.choose_method(gpu, batch, steps),
            Method::Newton if self.newton.is_none() => {
                (Method::Sequential, "Newton was asked for, but the Jacobian is dense and too large".to_owned())
            }
            other => (other, "requested".to_owned()),
        };
        let flat = |tensors: &[crate::data::Tensor]| {
            tensors.iter().flat_map(|t| t.data().iter().copied()).collect::<Vec<f32>>()
        };
        let params = gpu.upload("params", &flat(data.params()))?;
        let inputs = gpu.upload("inputs", &flat(data.inputs()))?;
        let init = gpu.upload("init", &flat(data.inits()))?;
        let rows = (batch * steps) as u64;
        let projections = gpu.zeroed("projections", (rows * plan.projection_columns) as usize)?;
        let output_words: u64 = plan.output_sizes.iter().sum::<u64>() * rows;
        let outputs = gpu.zeroed("outputs", output_words as usize)?;
        let mut weights = Vec::new();
        for group in &plan.projections {
            let stacked: Vec<f32> =
                group.params.iter().flat_map(|&(p, _)| data.params()[p.index()].data().iter().copied()).collect();
            weights.push(gpu.upload("projection weights", &stacked)?);
        }
        let groups_x = |per: u64| plan.lanes.div_ceil(per).max(1) as u32;
        let (entry, grid, shape) = match method {
            Method::Newton => {
                let shape = self.kernels.newton.expect("checked above");
                (self.newton.as_ref().expect("checked above"), [groups_x(shape.lanes), batch as u32, 1], Some(shape))
            }
            _ => (&self.sequential, [groups_x(SEQUENTIAL_LANES), batch as u32, 1], None),
        };
        let stats_words = (grid[0] as usize) * batch * 4;
        let stats = gpu.zeroed("stats", stats_words.max(4 * batch))?;
        // The sequential kernel walks windows of steps, one dispatch each.
        let windows: Vec<(u32, u32)> = match method {
            Method::Newton => vec![(0, steps as u32)],
            _ => (0..steps)
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
            sizes_buffers.push(gpu.upload(
                "projection sizes",
                &[
                    rows as u32,
                    n as u32,
                    group.depth as u32,
                    offset as u32,
                    plan.projection_columns as u32,
                    group.column as u32,
                    0,
                    0,
                ],
            )?);
        }
        gpu.wait()?;

        let start = Instant::now();
        for ((group, weight), sizes) in plan.projections.iter().zip(&weights).zip(&sizes_buffers) {
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
                        Buffer::Params => &params,
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
        let mut report = self.report(gpu, method, reason, shape, steps, batch, grid, &stats, time_ms);
        report.projection_ms = Some(projection_ms);
        Ok((split, report))
    }

    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        gpu: &Gpu,
        method: Method,
        reason: String,
        shape: Option<NewtonShape>,
        steps: usize,
        batch: usize,
        grid: [u32; 3],
        stats: &[u32],
        time_ms: f64,
    ) -> ForwardReport {
        let groups = grid[0] as usize * batch;
        let (mut iterations, mut fallbacks, mut residual) = (0u32, 0u64, 0f32);
        if shape.is_some() {
            for group in stats.chunks(4).take(groups) {
                iterations = iterations.max(group[0]);
                fallbacks += u64::from(group[1]);
                residual = residual.max(f32::from_bits(group[2]));
            }
        } else {
            iterations = 1;
        }
        let segments_per_group = shape.map_or(1, |s| (steps as u64).div_ceil(s.segment()).max(1));
        ForwardReport {
            backend: "gpu".to_owned(),
            device: gpu.describe(),
            method: method.name().to_owned(),
            method_reason: reason,
            iterations,
            converged: fallbacks == 0,
            residual,
            fallback_segments: fallbacks,
            segments: segments_per_group * groups as u64,
            time_ms,
            projection_ms: None,
        }
    }
}
