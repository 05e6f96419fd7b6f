//! One pass of a cell's forward solve on the GPU (a contiguous range of the
//! batch's sequences): its uploads, the projection launches and the recurrence's
//! windows recorded into one command buffer (one timed compute pass each), and
//! the outputs and statistics read back. What the backward pass shares with it:
//! the settings records and their bind groups, the windows, the uploads of
//! initial states.

use std::sync::Arc;
use std::time::Instant;

use rnnc_compiler::backend::wgsl::{self, Buffer, NewtonShape, SEQUENTIAL_LANES, STAGE_THREADS, Settings, Stats};

use super::cell::{GpuCell, Outputs, Run};
use super::copy::{Copies, WordCopy};
use super::device::{Gpu, GpuError};
use super::exchange::Exchange;
use super::kernel::{Dispatch, Kernel, Recorder};
use super::timing::{Phase, PhaseTimes};
use super::workspace::{Bound, Slot, Uploads, Workspace, record_stride};
use crate::data::BoundData;
use crate::solve::{Damping, Method, NewtonSettings};

/// Steps per dispatch of the sequential kernels, for one unknown per lane.
const SEQUENTIAL_WINDOW: usize = 16_384;
/// About the steps per dispatch of the Newton and reverse-scan kernels (whole
/// segments): llvmpipe ends an invocation after 65,535 loop iterations in all,
/// and a dense lane's Jacobians loop over its K x K entries at every step.
const NEWTON_WINDOW: usize = 1024;

impl GpuCell {
    /// The inputs (with `inputs`) and initial states of `pass`, to upload from
    /// the host or to copy from the exchange (the recurrence leaves its last
    /// states in the initial states' place).
    pub(super) fn pass_uploads<'a>(&self, io: &PassIo<'a>, pass: &Pass, inputs: bool, uploads: &mut Uploads<'a>) {
        let plan = &self.kernels().plan;
        let rows = pass.rows() as u64;
        let batch = pass.batch as u64;
        match *io {
            PassIo::Host { data, .. } => {
                for ((tensor, &size), &prefix) in data.inputs().iter().zip(&plan.cell.inputs).zip(&plan.input_prefix) {
                    let per_sequence = pass.steps * size as usize;
                    let part = &tensor.data()[pass.first * per_sequence..(pass.first + pass.batch) * per_sequence];
                    if inputs {
                        uploads.data(Slot::Inputs, rows * prefix, part);
                    }
                }
                for ((tensor, &size), &prefix) in data.inits().iter().zip(&plan.cell.states).zip(&plan.state_prefix) {
                    let size = size as usize;
                    let part = &tensor.data()[pass.first * size..(pass.first + pass.batch) * size];
                    uploads.data(Slot::Init, batch * prefix, part);
                }
            }
            PassIo::Exchange { exchange, .. } => {
                let layout = exchange.layout();
                for (region, &prefix) in layout.inputs().iter().zip(&plan.input_prefix) {
                    if inputs {
                        uploads.copy_from_exchange(
                            Slot::Inputs,
                            rows * prefix,
                            region.offset as u64,
                            region.len() as u64,
                        );
                    }
                }
                for (region, &prefix) in layout.inits().iter().zip(&plan.state_prefix) {
                    uploads.copy_from_exchange(Slot::Init, batch * prefix, region.offset as u64, region.len() as u64);
                }
            }
        }
    }

    /// The settings record of one dispatch.
    pub(super) fn settings(&self, pass: &Pass, newton: &NewtonSettings, window: (u32, u32), save: bool) -> Settings {
        Settings {
            batch: pass.batch as u32,
            steps: pass.steps as u32,
            lanes: self.kernels().plan.lanes as u32,
            max_iterations: newton.max_iterations,
            atol: newton.atol,
            rtol: newton.rtol,
            first: window.0,
            last: window.1,
            save_states: u32::from(save),
            // 0: no damping (`GpuCell::damps`).
            damping_lambda: if self.damps { Damping::FIRST_LAMBDA } else { 0.0 },
            damping_success: Damping::SUCCESS,
            damping_failure: Damping::FAILURE,
            damping_largest: Damping::LARGEST_LAMBDA,
        }
    }

    /// The buffer that binding `buffer` of a forward or backward kernel reads.
    pub(super) fn slot_of(buffer: Buffer, backward: bool) -> Slot {
        match buffer {
            Buffer::Settings if backward => Slot::BackwardSettings,
            Buffer::Settings => Slot::Settings,
            Buffer::Stats => Slot::Stats,
            Buffer::Projections => Slot::Projections,
            Buffer::Params => Slot::Params,
            Buffer::Inputs => Slot::Inputs,
            Buffer::Init => Slot::Init,
            Buffer::Outputs => Slot::Outputs,
            Buffer::States => Slot::States,
            Buffer::Douts => Slot::Douts,
            Buffer::Grads => Slot::Grads,
            Buffer::Staged => Slot::Staged,
            Buffer::StagedGrads => Slot::StagedGrads,
            Buffer::StagePartials => Slot::StagePartials,
        }
    }

    /// The bind groups of `kernel` (bindings `bindings`) for each of the
    /// settings `records` (one per window), whose words are added to `uploads`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn window_bind_groups(
        &self,
        gpu: &Gpu,
        workspace: &mut Workspace,
        kernel: &Arc<Kernel>,
        bindings: &[Buffer],
        backward: bool,
        records: &[Settings],
        uploads: &mut Uploads<'_>,
    ) -> Result<Vec<wgpu::BindGroup>, GpuError> {
        let slot = Self::slot_of(Buffer::Settings, backward);
        let stride = record_stride(gpu, Settings::WORDS);
        workspace.ensure(gpu, slot, records.len() * stride as usize)?;
        let mut words = vec![0u32; records.len() * stride as usize];
        for (record, at) in records.iter().zip(words.chunks_mut(stride as usize)) {
            at[..Settings::WORDS].copy_from_slice(&record.words());
        }
        uploads.records(slot, 0, words);
        let mut groups = Vec::with_capacity(records.len());
        for i in 0..records.len() as u64 {
            let bound: Vec<Bound> = bindings
                .iter()
                .map(|&buffer| match Self::slot_of(buffer, backward) {
                    s if s == slot => Bound::range(slot, i * stride, Settings::WORDS as u64),
                    s => Bound::whole(s),
                })
                .collect();
            groups.push(workspace.bind_group(gpu, kernel, &bound)?);
        }
        Ok(groups)
    }

    /// One pass over `pass.batch` sequences: its data written, projections and
    /// recurrence (keeping every state when `keep`) in one submission, the
    /// outputs and statistics read back.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn solve_pass(
        &self,
        gpu: &Gpu,
        workspace: &mut Workspace,
        run: &Run,
        io: PassIo<'_>,
        pass: &Pass,
        newton: &NewtonSettings,
        keep: bool,
    ) -> Result<(PassStats, Outputs), GpuError> {
        let plan = &self.kernels().plan;
        let rows = pass.rows();
        let words = |sizes: &[u64]| sizes.iter().sum::<u64>() as usize;
        workspace.ensure(gpu, Slot::Inputs, rows * words(&plan.cell.inputs))?;
        workspace.ensure(gpu, Slot::Init, pass.batch * words(&plan.cell.states))?;
        workspace.ensure(gpu, Slot::Projections, rows * plan.cell.projection_columns as usize)?;
        let output_words = rows * words(&plan.cell.outputs);
        workspace.ensure(gpu, Slot::Outputs, output_words)?;
        workspace.ensure(gpu, Slot::States, if keep { rows * words(&plan.cell.states) } else { 1 })?;
        workspace.ensure(gpu, Slot::Staged, (rows * plan.cell.stages.columns as usize).max(1))?;
        let groups_x = |per: u64| plan.lanes.div_ceil(per).max(1) as u32;
        let (kernel, grid, shape) = match (run.method, &self.newton, self.kernels().newton) {
            (Method::Newton | Method::Scan, Some(kernel), Some(shape)) => {
                (kernel, [groups_x(shape.lanes), pass.batch as u32, 1], Some(shape))
            }
            _ => (&self.sequential, [groups_x(SEQUENTIAL_LANES), pass.batch as u32, 1], None),
        };
        let groups = grid[0] as usize * pass.batch;
        let stats_words = groups.max(pass.batch) * Stats::WORDS;
        workspace.ensure(gpu, Slot::Stats, stats_words)?;
        let mut uploads = Uploads::default();
        self.pass_uploads(&io, pass, io.uploads_inputs(), &mut uploads);

        let layout = self.projection_layout(run.method);
        let records: Vec<Settings> = windows(pass.steps, shape, plan.unknowns, gpu.is_cpu())
            .into_iter()
            .map(|window| self.settings(pass, newton, window, keep))
            .collect();
        let recurrence: Vec<Dispatch> = self
            .window_bind_groups(gpu, workspace, kernel, &self.kernels().bindings, false, &records, &mut uploads)?
            .into_iter()
            .map(|bind_group| Dispatch { kernel: Arc::clone(kernel), bind_group, grid })
            .collect();
        // After the settings records: the stage kernels read the first.
        let projections = self.projection_dispatches(gpu, workspace, rows as u64, layout, &mut uploads)?;
        let stats_bytes = (stats_words * 4) as u64;
        let read_outputs = io.reads_outputs();
        let output_words = if read_outputs { output_words } else { 0 };
        let ordered = match io {
            PassIo::Exchange { exchange, ordered: true } => Some(exchange),
            _ => None,
        };
        let readback = match ordered {
            Some(exchange) => exchange.deferred.readback(gpu, stats_bytes)?,
            None => workspace.readback(gpu, (output_words * 4) as u64 + stats_bytes)?,
        };
        workspace.ensure_timer(gpu)?;
        let copies_in = Copies::plan(gpu, workspace, uploads.exchange_copies())?;
        let outputs_out: Vec<WordCopy> = match io {
            PassIo::Exchange { exchange, .. } => exchange
                .layout()
                .outputs()
                .iter()
                .zip(&plan.output_prefix)
                .map(|(region, &prefix)| WordCopy {
                    src: Slot::Outputs,
                    from: rows as u64 * prefix,
                    dst: Slot::Exchange,
                    to: region.offset as u64,
                    len: region.len() as u64,
                })
                .collect(),
            PassIo::Host { .. } => Vec::new(),
        };
        let copies_out = Copies::plan(gpu, workspace, outputs_out)?;
        let params_copies = workspace.take_deferred();
        let mut recorder = Recorder::new(gpu, "forward");
        workspace.stage(gpu, &uploads, &mut recorder.encoder)?;
        copies_in.record(&mut recorder, workspace)?;
        let timer = workspace.timer().filter(|_| ordered.is_none());
        recorder.encoder.clear_buffer(&workspace.get(Slot::Stats)?.buffer, 0, Some(stats_bytes));
        recorder.phase("projection", timer.map(|t| (t, Phase::Projection)), &projections)?;
        recorder.phase("recurrence", timer.map(|t| (t, Phase::Recurrence)), &recurrence)?;
        copies_out.record(&mut recorder, workspace)?;
        let output_bytes = (output_words * 4) as u64;
        if output_bytes > 0 {
            let outputs = workspace.get(Slot::Outputs)?;
            recorder.encoder.copy_buffer_to_buffer(&outputs.buffer, outputs.byte_offset(0), &readback, 0, output_bytes);
        }
        recorder.encoder.copy_buffer_to_buffer(
            &workspace.get(Slot::Stats)?.buffer,
            0,
            &readback,
            output_bytes,
            stats_bytes,
        );
        let phases = [Phase::Projection, Phase::Recurrence];
        if let Some(timer) = timer {
            timer.resolve(&mut recorder.encoder, &phases);
        }
        let summary = StatsSummary { groups, segment: shape.map(|shape| shape.segment()), steps: pass.steps };
        let start = Instant::now();
        if let Some(exchange) = ordered {
            exchange.stage_signal(gpu)?;
        }
        let submission = recorder.submit_after(params_copies)?;
        if let Some(exchange) = ordered {
            exchange.deferred.defer(readback, stats_bytes, submission, summary, run.clone());
            return Ok((PassStats::default(), Vec::new()));
        }
        let (records, outputs) = gpu.with_mapped(&readback, output_bytes + stats_bytes, |words: &[u32]| {
            let records: Vec<Stats> = words[output_words..].chunks(Stats::WORDS).map(Stats::from_words).collect();
            let values: &[f32] = bytemuck::cast_slice(&words[..output_words]);
            let mut outputs: Outputs = Vec::new();
            let mut offset = 0usize;
            for &size in &plan.cell.outputs {
                let len = if read_outputs { rows * size as usize } else { 0 };
                outputs.push(values[offset..offset + len].to_vec());
                offset += len;
            }
            (records, outputs)
        })?;
        let wall_ms = start.elapsed().as_secs_f64() * 1e3;
        let times = match timer {
            Some(timer) => timer.read(gpu, &phases)?,
            None => PhaseTimes::default(),
        };
        Ok((summary.of(&records, PassStats::timed(times, wall_ms)), outputs))
    }

    /// The dispatch of stage `s`'s forward or backward kernel over `items`
    /// (elements times steps), reading the first settings record.
    pub(super) fn stage_dispatch(
        &self,
        gpu: &Gpu,
        workspace: &mut Workspace,
        s: usize,
        backward: bool,
        items: u64,
    ) -> Result<Dispatch, GpuError> {
        let (Some(stage_kernels), Some(kernels)) = (&self.kernels().stages, self.stage_kernels.as_ref()) else {
            return Err(GpuError::Codegen("a stage without its kernels".to_owned()));
        };
        let (bindings, kernel) = if backward {
            (&stage_kernels.backward_bindings, &kernels.backward[s])
        } else {
            (&stage_kernels.forward_bindings, &kernels.forward[s])
        };
        let bound: Vec<Bound> = bindings
            .iter()
            .map(|&buffer| match Self::slot_of(buffer, backward) {
                slot @ (Slot::Settings | Slot::BackwardSettings) => Bound::range(slot, 0, Settings::WORDS as u64),
                slot => Bound::whole(slot),
            })
            .collect();
        let bind_group = workspace.bind_group(gpu, kernel, &bound)?;
        let grid = wgsl::grid_in_rows(items, STAGE_THREADS, gpu.max_workgroups_per_dimension());
        Ok(Dispatch { kernel: Arc::clone(kernel), bind_group, grid })
    }
}

/// A thread's loop iterations per dispatch on a CPU device: llvmpipe ends an
/// invocation's loops after 65,535 iterations in all and goes on with wrong
/// values, so a dispatch stays at half that.
const LLVMPIPE_LOOP_BUDGET: u64 = 32_768;
/// The Newton iterations per segment the budget allows for, besides the
/// initial guess's sweeps (each loops less than an iteration; counted as one).
const LLVMPIPE_ITERATIONS: u64 = 8;

/// The windows of steps the kernels walk, one dispatch each: whole segments of
/// the Newton kernel's `shape` (about [`NEWTON_WINDOW`] steps; on a CPU device
/// also within [`LLVMPIPE_LOOP_BUDGET`], a thread's Newton iteration looping
/// about `N (K^3 + 4 K^2)` times: with lanes of 8 unknowns, one segment), or
/// steps of the sequential kernels ([`SEQUENTIAL_WINDOW`] over the square of the
/// lane's `unknowns`, as a lane's step loops over its K x K entries, but at
/// least 64, or on a CPU device at least 1).
pub(super) fn windows(steps: usize, shape: Option<NewtonShape>, unknowns: u64, cpu_device: bool) -> Vec<(u32, u32)> {
    let window = match shape {
        Some(shape) => {
            let segment = shape.segment() as usize;
            let mut segments = (NEWTON_WINDOW / segment).max(1);
            if cpu_device {
                let k = unknowns.max(1);
                let per_segment =
                    shape.chunk_len * (k * k * k + 4 * k * k) * (LLVMPIPE_ITERATIONS + wgsl::MAX_GUESS_SWEEPS);
                segments = segments.min((LLVMPIPE_LOOP_BUDGET / per_segment.max(1)).max(1) as usize);
            }
            segment * segments
        }
        // At least 64 steps, but on a CPU device (llvmpipe's loop budget) as
        // few as one: a whole lane of 64 unknowns (a `[8, 8]` matrix state)
        // loops over its 64 elements in every node of a step.
        None => (SEQUENTIAL_WINDOW / (unknowns * unknowns).max(1) as usize).max(if cpu_device { 1 } else { 64 }),
    };
    (0..steps.max(1)).step_by(window).map(|t| (t as u32, (t + window).min(steps) as u32)).collect()
}

/// Where a pass's data comes from and where its outputs go (besides its
/// settings and statistics, which always cross through the host).
#[derive(Clone, Copy)]
pub(super) enum PassIo<'a> {
    /// The host's bound data: the inputs uploaded unless `upload_inputs` is off
    /// (those in the workspace are used), the initial states always; the
    /// outputs read back when `read_outputs` (else they stay on the device).
    Host { data: &'a BoundData, upload_inputs: bool, read_outputs: bool },
    /// An exchange on the device: inputs and initial states copied from it,
    /// outputs copied to it; when `ordered` (by the exchange's shared
    /// timeline), the statistics too, read when the exchange's report is
    /// asked for ([`Exchange::take_report`]), and the pass is not timed
    /// (nothing waits for it).
    Exchange { exchange: &'a Exchange, ordered: bool },
}

impl<'a> PassIo<'a> {
    /// The host's data: inputs up, outputs back.
    pub(super) fn host(data: &'a BoundData) -> PassIo<'a> {
        PassIo::Host { data, upload_inputs: true, read_outputs: true }
    }

    fn uploads_inputs(&self) -> bool {
        match self {
            PassIo::Host { upload_inputs, .. } => *upload_inputs,
            PassIo::Exchange { .. } => true,
        }
    }

    fn reads_outputs(&self) -> bool {
        matches!(self, PassIo::Host { read_outputs: true, .. })
    }
}

/// How a pass's statistics records add up to its [`PassStats`]: its
/// workgroups' records, and its Newton segments (none for the sequential kernel).
#[derive(Clone, Copy, Debug)]
pub(super) struct StatsSummary {
    groups: usize,
    segment: Option<u64>,
    steps: usize,
}

impl StatsSummary {
    /// The statistics of `records` (the pass's, at least `groups` of them)
    /// added to `stats` (its times).
    pub(super) fn of(&self, records: &[Stats], mut stats: PassStats) -> PassStats {
        match self.segment {
            Some(segment) => {
                for record in records.iter().take(self.groups) {
                    stats.iterations = stats.iterations.max(record.most_iterations);
                    stats.fallbacks += u64::from(record.fallbacks);
                    stats.damped_iterations += u64::from(record.damped_iterations);
                    stats.residual = stats.residual.max(record.last_update);
                }
                stats.segments = (self.steps as u64).div_ceil(segment).max(1) * self.groups as u64;
            }
            None => {
                stats.iterations = 1;
                stats.segments = self.groups as u64;
            }
        }
        stats
    }
}

/// One pass: a contiguous range of the batch's sequences.
#[derive(Clone, Copy, Debug)]
pub(super) struct Pass {
    /// The first sequence's index in the batch.
    pub(super) first: usize,
    pub(super) batch: usize,
    pub(super) steps: usize,
}

impl Pass {
    /// The steps of all its sequences.
    pub(super) fn rows(&self) -> usize {
        self.batch * self.steps
    }
}

/// What one pass did, and the sum of several.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct PassStats {
    pub(super) iterations: u32,
    pub(super) fallbacks: u64,
    pub(super) damped_iterations: u64,
    pub(super) residual: f32,
    pub(super) segments: u64,
    pub(super) time_ms: f64,
    pub(super) projection_ms: Option<f64>,
    pub(super) recurrence_ms: Option<f64>,
}

impl PassStats {
    /// Timed by the device's phase `times`, or by the host's `wall_ms` around the
    /// submission where the device has no timestamps.
    pub(super) fn timed(times: PhaseTimes, wall_ms: f64) -> PassStats {
        let (projection, recurrence) = (times[Phase::Projection as usize], times[Phase::Recurrence as usize]);
        let time_ms = match (projection, recurrence) {
            (Some(p), Some(r)) => p + r,
            _ => wall_ms,
        };
        PassStats { time_ms, projection_ms: projection, recurrence_ms: recurrence, ..PassStats::default() }
    }

    pub(super) fn merge(&mut self, other: &PassStats) {
        let add = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.iterations = self.iterations.max(other.iterations);
        self.fallbacks += other.fallbacks;
        self.damped_iterations += other.damped_iterations;
        self.residual = self.residual.max(other.residual);
        self.segments += other.segments;
        self.time_ms += other.time_ms;
        self.projection_ms = add(self.projection_ms, other.projection_ms);
        self.recurrence_ms = add(self.recurrence_ms, other.recurrence_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::windows;

    /// A sequential lane of 64 unknowns (a `[8, 8]` matrix state, whole) walks
    /// 4 steps a dispatch on llvmpipe, within its loop budget; a GPU keeps
    /// windows of at least 64 steps.
    #[test]
    fn sequential_windows_shrink_with_the_lane_on_cpu_devices() {
        assert_eq!(windows(40, None, 64, true)[0], (0, 4));
        assert_eq!(windows(40, None, 64, true).len(), 10);
        assert_eq!(windows(40, None, 64, false), vec![(0, 40)]);
        assert_eq!(windows(100_000, None, 1, true)[0], (0, 16_384));
    }
}
