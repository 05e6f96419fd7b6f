//! A cell compiled for one GPU and bound sizes, and its forward pass. Every
//! buffer lives in the cell's resident [`Workspace`]: parameters are uploaded
//! when they change, each pass writes its inputs into the same buffers, records
//! the projections and the recurrence into one command buffer (one timed
//! compute pass each) and reads its outputs back through one staging buffer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use rnnc_compiler::Derived;
use rnnc_compiler::analyse::ProjectionKind;
use rnnc_compiler::backend::wgsl::{
    self, AdjointKernels, Buffer, GemmSizes, GpuKernels, NewtonShape, PROJECTION_TILE, ProjectionLaunch,
    ProjectionSizes, SEQUENTIAL_LANES, Settings, Stats, Target,
};
use rnnc_compiler::check::DimSizes;

use super::device::{Gpu, GpuError};
use super::kernel::{Dispatch, Kernel, Recorder};
use super::timing::{Phase, PhaseTimes};
use super::workspace::{Bound, PASS_SLOTS, Slot, Uploads, Workspace, fingerprint, record_stride};
use crate::data::BoundData;
use crate::solve::{ForwardReport, Method, NewtonSettings, TIMING_GPU_TIMESTAMPS, TIMING_WALL_CLOCK};

/// A cell's kernels compiled on a device, for bound sizes, with its resident
/// workspace.
pub struct GpuCell {
    /// Distinguishes cells, so that a tape is only used by the cell that made it.
    id: u64,
    kernels: GpuKernels,
    /// The backward kernels' WGSL (compiled on the first backward pass), or why
    /// the cell has none.
    pub(super) adjoint: Result<AdjointKernels, String>,
    max_batch_chunk: Option<usize>,
    projection: Arc<Kernel>,
    pub(super) gemm: Arc<Kernel>,
    newton: Option<Arc<Kernel>>,
    sequential: Arc<Kernel>,
    workspace: Mutex<Workspace>,
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

/// What a forward pass keeps on the device for the backward pass that follows
/// it ([`GpuCell::forward_tape`], [`GpuCell::backward_tape`]): its inputs,
/// projections and every state, so that forward + backward costs one forward.
/// While a tape is alive its buffers are out of the cell's workspace (a second
/// forward meanwhile allocates its own); the backward pass gives them back.
pub struct GpuTape {
    pub(super) cell: u64,
    pub(super) method: Method,
    pub(super) params: u64,
    pub(super) batch: usize,
    pub(super) steps: usize,
    /// The forward's buffers, when its batch ran in one pass; with several
    /// passes, none: the backward solves each pass again.
    pub(super) buffers: Vec<(Slot, super::memory::GpuBuffer)>,
}

impl GpuTape {
    /// Whether the backward pass can use the forward's states (one pass) rather
    /// than solving the forward again.
    pub fn keeps_states(&self) -> bool {
        !self.buffers.is_empty()
    }
}

static NEXT_CELL: AtomicU64 = AtomicU64::new(1);

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
        let projection = gpu.kernel("projection", &wgsl::projection_kernel(), "main")?;
        let gemm = gpu.kernel("gemm", &wgsl::gemm_kernel(), "main")?;
        let newton = match kernels.newton {
            Some(_) => Some(gpu.kernel(&label, &kernels.recurrence, "newton")?),
            None => None,
        };
        let sequential = gpu.kernel(&label, &kernels.recurrence, "sequential")?;
        let adjoint = wgsl::generate_adjoint(derived, dims, &kernels.plan, kernels.newton).map_err(|e| e.to_string());
        Ok(GpuCell {
            id: NEXT_CELL.fetch_add(1, Ordering::Relaxed),
            kernels,
            adjoint,
            max_batch_chunk: None,
            projection,
            gemm,
            newton,
            sequential,
            workspace: Mutex::new(Workspace::default()),
        })
    }

    /// The generated kernels.
    pub fn kernels(&self) -> &GpuKernels {
        &self.kernels
    }

    pub(super) fn id(&self) -> u64 {
        self.id
    }

    /// The workspace (a poisoned lock still holds usable buffers).
    pub(super) fn workspace(&self) -> MutexGuard<'_, Workspace> {
        self.workspace.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
        let (outputs, report, _) = self.run_forward(gpu, data, method, settings, false)?;
        Ok((outputs, report))
    }

    /// Runs the cell forward over `data` keeping what a backward pass needs: the
    /// outputs, the report, and the tape to give [`GpuCell::backward_tape`].
    pub fn forward_tape(
        &self,
        gpu: &Gpu,
        data: &BoundData,
        method: Method,
        settings: &NewtonSettings,
    ) -> Result<(Outputs, ForwardReport, GpuTape), GpuError> {
        let (outputs, report, tape) = self.run_forward(gpu, data, method, settings, true)?;
        let tape = tape.ok_or_else(|| GpuError::Device("internal: the forward kept no tape".into()))?;
        Ok((outputs, report, tape))
    }

    /// Runs the cell forward over `data` leaving its outputs on the device (only
    /// the report comes back), for timing the device's pipeline as a training
    /// loop with device-resident data runs it. With `reuse_inputs`, the inputs
    /// the last call uploaded stay in place when they have `data`'s shape (the
    /// caller promises they are `data`'s); otherwise they are uploaded. A batch
    /// must fit one pass.
    pub fn forward_on_device(
        &self,
        gpu: &Gpu,
        data: &BoundData,
        method: Method,
        settings: &NewtonSettings,
        reuse_inputs: bool,
    ) -> Result<ForwardReport, GpuError> {
        settings.validate().map_err(|e| GpuError::Settings(e.to_string()))?;
        let wall = Instant::now();
        let mut workspace = self.workspace();
        let run = self.prepare(gpu, &mut workspace, data, method)?;
        if run.chunk < data.batch() {
            return Err(GpuError::Device(format!(
                "a forward on the device needs the batch in one pass; this device takes {} of {} sequences per pass",
                run.chunk,
                data.batch()
            )));
        }
        let shape = (data.batch(), data.seq_len());
        let upload_inputs = !(reuse_inputs && workspace.resident_inputs == Some(shape));
        let pass = Pass { first: 0, batch: data.batch(), steps: data.seq_len() };
        let transfers = Transfers { upload_inputs, read_outputs: false };
        let (stats, _) = self.solve_pass(gpu, &mut workspace, &run, data, &pass, settings, false, transfers)?;
        workspace.resident_inputs = Some(shape);
        let mut report = run.report(gpu, &stats);
        report.wall_ms = wall.elapsed().as_secs_f64() * 1e3;
        Ok(report)
    }

    fn run_forward(
        &self,
        gpu: &Gpu,
        data: &BoundData,
        method: Method,
        settings: &NewtonSettings,
        keep: bool,
    ) -> Result<(Outputs, ForwardReport, Option<GpuTape>), GpuError> {
        settings.validate().map_err(|e| GpuError::Settings(e.to_string()))?;
        let wall = Instant::now();
        let mut workspace = self.workspace();
        let run = self.prepare(gpu, &mut workspace, data, method)?;
        let mut outputs: Outputs = vec![Vec::new(); self.kernels.plan.output_sizes.len()];
        let mut total = PassStats::default();
        let passes: Vec<Pass> = self.passes(data, run.chunk).collect();
        for pass in &passes {
            let (stats, part) =
                self.solve_pass(gpu, &mut workspace, &run, data, pass, settings, keep, Transfers::ALL)?;
            for (all, part) in outputs.iter_mut().zip(part) {
                all.extend(part);
            }
            total.merge(&stats);
        }
        workspace.resident_inputs = (passes.len() == 1).then(|| (data.batch(), data.seq_len()));
        let tape = keep.then(|| GpuTape {
            cell: self.id,
            method: run.method,
            params: run.params,
            batch: data.batch(),
            steps: data.seq_len(),
            buffers: if passes.len() == 1 {
                PASS_SLOTS.iter().filter_map(|&slot| workspace.take(slot).map(|b| (slot, b))).collect()
            } else {
                Vec::new()
            },
        });
        let mut report = run.report(gpu, &total);
        report.wall_ms = wall.elapsed().as_secs_f64() * 1e3;
        Ok((outputs, report, tape))
    }

    /// What every pass of a run shares: the method; the parameters on the device
    /// (uploaded only when they changed since the last call).
    pub(super) fn prepare(
        &self,
        gpu: &Gpu,
        workspace: &mut Workspace,
        data: &BoundData,
        method: Method,
    ) -> Result<Run, GpuError> {
        let plan = &self.kernels.plan;
        let (batch, steps) = (data.batch(), data.seq_len());
        let (method, reason) = method.resolve(self.newton.is_some(), || self.choose_method(gpu, batch, steps));
        workspace.ensure(gpu, Slot::Params, plan.params_len as usize)?;
        for (i, launch) in self.dense_launches() {
            workspace.ensure(gpu, Slot::Weights(i), (launch.columns() * launch.depth) as usize)?;
        }
        let params = fingerprint(data.params().iter().map(|t| t.data()));
        if workspace.params_fingerprint != Some(params) {
            let buffer = workspace.get(Slot::Params)?;
            for (tensor, &offset) in data.params().iter().zip(&plan.param_offsets) {
                gpu.write(buffer, offset as usize, tensor.data())?;
            }
            for (i, launch) in self.dense_launches() {
                let weights = workspace.get(Slot::Weights(i))?;
                let mut row = 0;
                for &(param, rows) in &launch.params {
                    gpu.write(weights, (row * launch.depth) as usize, data.params()[param.index()].data())?;
                    row += rows;
                }
            }
            workspace.params_fingerprint = Some(params);
        }
        Ok(Run { method, reason, params, chunk: self.batch_chunk(gpu, batch, steps) })
    }

    /// The dense projection launches, with their index among all launches.
    fn dense_launches(&self) -> impl Iterator<Item = (usize, &ProjectionLaunch)> {
        self.kernels.plan.projections.iter().enumerate().filter(|(_, l)| l.kind == ProjectionKind::Dense)
    }

    /// The passes a batch runs in: contiguous ranges of at most `chunk` sequences.
    pub(super) fn passes<'a>(&self, data: &'a BoundData, chunk: usize) -> impl Iterator<Item = Pass> + 'a {
        let (batch, steps) = (data.batch(), data.seq_len());
        (0..batch).step_by(chunk.max(1)).map(move |first| Pass { first, batch: chunk.min(batch - first), steps })
    }

    /// The inputs and initial states of `pass`, to upload.
    pub(super) fn pass_uploads<'a>(&self, data: &'a BoundData, pass: &Pass, uploads: &mut Uploads<'a>) {
        let plan = &self.kernels.plan;
        let rows = pass.rows() as u64;
        for ((tensor, &size), &prefix) in data.inputs().iter().zip(&plan.input_sizes).zip(&plan.input_prefix) {
            let per_sequence = pass.steps * size as usize;
            let part = &tensor.data()[pass.first * per_sequence..(pass.first + pass.batch) * per_sequence];
            uploads.data(Slot::Inputs, rows * prefix, part);
        }
        self.init_uploads(data, pass, uploads);
    }

    /// The initial states of `pass`, to upload (the recurrence leaves its last
    /// states in their place).
    pub(super) fn init_uploads<'a>(&self, data: &'a BoundData, pass: &Pass, uploads: &mut Uploads<'a>) {
        let plan = &self.kernels.plan;
        for ((tensor, &size), &prefix) in data.inits().iter().zip(&plan.state_sizes).zip(&plan.state_prefix) {
            let size = size as usize;
            let part = &tensor.data()[pass.first * size..(pass.first + pass.batch) * size];
            uploads.data(Slot::Init, pass.batch as u64 * prefix, part);
        }
    }

    /// The settings record of one dispatch.
    pub(super) fn settings(&self, pass: &Pass, newton: &NewtonSettings, window: (u32, u32), save: bool) -> Settings {
        Settings {
            batch: pass.batch as u32,
            steps: pass.steps as u32,
            lanes: self.kernels.plan.lanes as u32,
            max_iterations: newton.max_iterations,
            atol: newton.atol,
            rtol: newton.rtol,
            first: window.0,
            last: window.1,
            save_states: u32::from(save),
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
        data: &BoundData,
        pass: &Pass,
        newton: &NewtonSettings,
        keep: bool,
        transfers: Transfers,
    ) -> Result<(PassStats, Outputs), GpuError> {
        let plan = &self.kernels.plan;
        let rows = pass.rows();
        let words = |sizes: &[u64]| sizes.iter().sum::<u64>() as usize;
        workspace.ensure(gpu, Slot::Inputs, rows * words(&plan.input_sizes))?;
        workspace.ensure(gpu, Slot::Init, pass.batch * words(&plan.state_sizes))?;
        workspace.ensure(gpu, Slot::Projections, rows * plan.projection_columns as usize)?;
        let output_words = rows * words(&plan.output_sizes);
        workspace.ensure(gpu, Slot::Outputs, output_words)?;
        workspace.ensure(gpu, Slot::States, if keep { rows * words(&plan.state_sizes) } else { 1 })?;
        let groups_x = |per: u64| plan.lanes.div_ceil(per).max(1) as u32;
        let (kernel, grid, shape) = match (run.method, &self.newton, self.kernels.newton) {
            (Method::Newton, Some(kernel), Some(shape)) => {
                (kernel, [groups_x(shape.lanes), pass.batch as u32, 1], Some(shape))
            }
            _ => (&self.sequential, [groups_x(SEQUENTIAL_LANES), pass.batch as u32, 1], None),
        };
        let groups = grid[0] as usize * pass.batch;
        let stats_words = groups.max(pass.batch) * Stats::WORDS;
        workspace.ensure(gpu, Slot::Stats, stats_words)?;
        let mut uploads = Uploads::default();
        if transfers.upload_inputs {
            self.pass_uploads(data, pass, &mut uploads);
        } else {
            self.init_uploads(data, pass, &mut uploads);
        }

        let projections = self.projection_dispatches(gpu, workspace, rows as u64, &mut uploads)?;
        let records: Vec<Settings> = windows(pass.steps, shape, plan.unknowns)
            .into_iter()
            .map(|window| self.settings(pass, newton, window, keep))
            .collect();
        let recurrence: Vec<Dispatch<'_>> = self
            .window_bind_groups(gpu, workspace, kernel, &self.kernels.bindings, false, &records, &mut uploads)?
            .into_iter()
            .map(|bind_group| Dispatch { kernel: kernel.as_ref(), bind_group, grid })
            .collect();
        let stats_bytes = (stats_words * 4) as u64;
        let output_words = if transfers.read_outputs { output_words } else { 0 };
        let readback = workspace.readback(gpu, (output_words * 4) as u64 + stats_bytes)?;
        workspace.ensure_timer(gpu)?;
        let mut recorder = Recorder::new(gpu, "forward");
        workspace.stage(gpu, &uploads, &mut recorder.encoder)?;
        let timer = workspace.timer();
        recorder.encoder.clear_buffer(&workspace.get(Slot::Stats)?.buffer, 0, Some(stats_bytes));
        recorder.phase("projection", timer.map(|t| (t, Phase::Projection)), &projections)?;
        recorder.phase("recurrence", timer.map(|t| (t, Phase::Recurrence)), &recurrence)?;
        let output_bytes = (output_words * 4) as u64;
        if output_bytes > 0 {
            recorder.encoder.copy_buffer_to_buffer(
                &workspace.get(Slot::Outputs)?.buffer,
                0,
                &readback,
                0,
                output_bytes,
            );
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
        let start = Instant::now();
        recorder.submit()?;
        let (records, outputs) = gpu.with_mapped(&readback, output_bytes + stats_bytes, |words: &[u32]| {
            let records: Vec<Stats> = words[output_words..].chunks(Stats::WORDS).map(Stats::from_words).collect();
            let values: &[f32] = bytemuck::cast_slice(&words[..output_words]);
            let mut outputs: Outputs = Vec::new();
            let mut offset = 0usize;
            for &size in &plan.output_sizes {
                let len = if transfers.read_outputs { rows * size as usize } else { 0 };
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

        let mut stats = PassStats::timed(times, wall_ms);
        match shape {
            Some(shape) => {
                for record in records.iter().take(groups) {
                    stats.iterations = stats.iterations.max(record.most_iterations);
                    stats.fallbacks += u64::from(record.fallbacks);
                    stats.residual = stats.residual.max(record.last_update);
                }
                stats.segments = (pass.steps as u64).div_ceil(shape.segment()).max(1) * groups as u64;
            }
            None => {
                stats.iterations = 1;
                stats.segments = groups as u64;
            }
        }
        Ok((stats, outputs))
    }

    /// The projection launches of a pass of `rows` steps: a dense launch by the
    /// projection kernel, a block-diagonal one by the grouped matrix product.
    fn projection_dispatches(
        &self,
        gpu: &Gpu,
        workspace: &mut Workspace,
        rows: u64,
        uploads: &mut Uploads<'_>,
    ) -> Result<Vec<Dispatch<'_>>, GpuError> {
        let plan = &self.kernels.plan;
        let stride = record_stride(gpu, ProjectionSizes::WORDS.max(GemmSizes::WORDS));
        let len = plan.projections.len().max(1) * stride as usize;
        workspace.ensure(gpu, Slot::LaunchSizes, len)?;
        let mut sizes = vec![0u32; len];
        let mut dispatches = Vec::new();
        for (i, launch) in plan.projections.iter().enumerate() {
            let x_offset = rows * plan.input_prefix[launch.input.index()];
            let at = i * stride as usize;
            let (kernel, words, bindings, grid) = match launch.kind {
                ProjectionKind::Dense => {
                    let n = launch.columns();
                    let record = ProjectionSizes {
                        m: rows as u32,
                        n: n as u32,
                        k: launch.depth as u32,
                        offset: x_offset as u32,
                        stride: plan.projection_columns as u32,
                        column: launch.column as u32,
                        ..ProjectionSizes::default()
                    };
                    sizes[at..at + ProjectionSizes::WORDS].copy_from_slice(&record.words());
                    let grid = [n.div_ceil(PROJECTION_TILE) as u32, rows.div_ceil(PROJECTION_TILE) as u32, 1];
                    (&self.projection, ProjectionSizes::WORDS, Slot::Weights(i), grid)
                }
                ProjectionKind::Block { block } => {
                    // out[m, column + g K + j] = sum_q x[m, g K + q] W[g, j, q].
                    let param = launch.params[0].0;
                    let record = GemmSizes {
                        m: rows as u32,
                        n: block as u32,
                        k: block as u32,
                        a_offset: x_offset as u32,
                        a_row: launch.depth as u32,
                        a_col: 1,
                        b_offset: plan.param_offsets[param.index()] as u32,
                        b_row: 1,
                        b_col: block as u32,
                        c_offset: launch.column as u32,
                        c_row: plan.projection_columns as u32,
                        a_group: block as u32,
                        b_group: (block * block) as u32,
                        c_group: block as u32,
                        ..GemmSizes::default()
                    };
                    sizes[at..at + GemmSizes::WORDS].copy_from_slice(&record.words());
                    let groups = launch.columns() / block;
                    let grid =
                        [block.div_ceil(wgsl::GEMM_TILE) as u32, rows.div_ceil(wgsl::GEMM_TILE) as u32, groups as u32];
                    (&self.gemm, GemmSizes::WORDS, Slot::Params, grid)
                }
            };
            let bound = [
                Bound::range(Slot::LaunchSizes, at as u64, words as u64),
                Bound::whole(Slot::Inputs),
                Bound::whole(bindings),
                Bound::whole(Slot::Projections),
            ];
            let bind_group = workspace.bind_group(gpu, kernel, &bound)?;
            dispatches.push(Dispatch { kernel: kernel.as_ref(), bind_group, grid });
        }
        uploads.records(Slot::LaunchSizes, 0, sizes);
        Ok(dispatches)
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

/// Which host transfers a pass makes besides its settings and statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Transfers {
    /// Upload the pass's inputs (else those in the workspace are used).
    pub(super) upload_inputs: bool,
    /// Read the outputs back (else they stay on the device).
    pub(super) read_outputs: bool,
}

impl Transfers {
    /// Inputs up, outputs back.
    pub(super) const ALL: Transfers = Transfers { upload_inputs: true, read_outputs: true };
}

/// What every pass of a run shares.
pub(super) struct Run {
    pub(super) method: Method,
    reason: String,
    /// The parameters' fingerprint.
    pub(super) params: u64,
    /// Sequences per pass.
    pub(super) chunk: usize,
}

impl Run {
    /// The report of a run whose passes did `total`.
    pub(super) fn report(&self, gpu: &Gpu, total: &PassStats) -> ForwardReport {
        let timed = total.projection_ms.is_some();
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
            timing: if timed { TIMING_GPU_TIMESTAMPS } else { TIMING_WALL_CLOCK }.to_owned(),
            time_ms: total.time_ms,
            projection_ms: total.projection_ms,
            recurrence_ms: total.recurrence_ms,
            backward_ms: None,
            backward_scan_ms: None,
            gradient_products_ms: None,
            wall_ms: total.time_ms,
        }
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
    iterations: u32,
    fallbacks: u64,
    residual: f32,
    segments: u64,
    time_ms: f64,
    projection_ms: Option<f64>,
    recurrence_ms: Option<f64>,
}

impl PassStats {
    /// Timed by the device's phase `times`, or by the host's `wall_ms` around the
    /// submission where the device has no timestamps.
    fn timed(times: PhaseTimes, wall_ms: f64) -> PassStats {
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
        self.residual = self.residual.max(other.residual);
        self.segments += other.segments;
        self.time_ms += other.time_ms;
        self.projection_ms = add(self.projection_ms, other.projection_ms);
        self.recurrence_ms = add(self.recurrence_ms, other.recurrence_ms);
    }
}
