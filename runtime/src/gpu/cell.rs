//! A cell compiled for one GPU and bound sizes, and its forward entry points
//! (with or without a tape, or leaving the outputs on the device). Every buffer
//! lives in the cell's resident [`Workspace`]: parameters are uploaded when they
//! change; each pass (`pass.rs`) writes its inputs into the same buffers, records
//! the projections and the recurrence into one command buffer and reads its
//! outputs back through one staging buffer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use rnnc_compiler::Derived;
use rnnc_compiler::analyse::ProjectionKind;
use rnnc_compiler::backend::wgsl::{self, AdjointKernels, GemmSizes, GpuKernels, NewtonShape, Target};
use rnnc_compiler::check::DimSizes;
use rnnc_compiler::plan::ProjectionLaunch;

use super::device::{Gpu, GpuError};
use super::kernel::{Kernel, KernelCache};
use super::pass::{Pass, PassIo, PassStats};
use super::workspace::{PASS_SLOTS, Slot, Workspace, fingerprint};
use crate::data::BoundData;
use crate::solve::{ForwardReport, Method, NewtonSettings, SegmentMethods, TIMING_GPU_TIMESTAMPS, TIMING_WALL_CLOCK};

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
    /// Whether Newton damps failing segments: not on a CPU device, whose
    /// llvmpipe ends a dispatch's loops past its budget and goes on with wrong
    /// values (damped iterations would run past the budget that the windows
    /// are sized for; a failing segment then falls back, exactly, as before).
    pub(super) damps: bool,
    /// The matrix products (projections and their gradients), one kernel per
    /// operand layout (`wgsl::GemmLayout`), compiled on first use.
    gemm: KernelCache<wgsl::GemmLayout>,
    /// Adds a split product's partial products.
    pub(super) sum_splits: Arc<Kernel>,
    /// Transposes a projection's matrices before its product.
    pub(super) transpose: Arc<Kernel>,
    pub(super) newton: Option<Arc<Kernel>>,
    pub(super) sequential: Arc<Kernel>,
    /// The stage kernels, when the plan has stages.
    pub(super) stage_kernels: Option<StagePipelines>,
    workspace: Mutex<Workspace>,
}

/// The compiled stage kernels, one of each per stage of the plan.
pub(super) struct StagePipelines {
    /// `stage_forward`.
    pub(super) forward: Vec<Arc<Kernel>>,
    /// `stage_backward`.
    pub(super) backward: Vec<Arc<Kernel>>,
}

/// The environment variable that overrides the steps per Newton chunk (tuning).
pub const CHUNK_ENV: &str = "RNNC_NEWTON_CHUNK";

/// The environment variable that overrides the Newton kernel's workgroup
/// shape, `threads=N,lanes=M` (tuning; see `wgsl::NewtonKnobs`).
pub const NEWTON_ENV: &str = "RNNC_NEWTON";

/// The environment variable that overrides the matrix-product kernel's shape,
/// `DEPTHxROW[:ABLATION]` (tuning and measurements; see `GemmKernel`'s parser).
pub const GEMM_ENV: &str = "RNNC_GEMM";

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
    /// The exchange (its buffer's identity) the forward read and which of its
    /// forward passes it was, or none for host data: a backward pass reads the same.
    pub(super) exchange: Option<(u64, u64)>,
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

/// Refuses a cell whose parameters, or one dense projection's matrices, need
/// more than `limit` bytes (what the device binds at once): each lives in one
/// buffer, whatever
/// the batch (the per-step buffers are split by [`GpuCell::batch_chunk`]). The
/// error points at the largest parameter concerned (the CPU back end runs it).
fn fixed_buffers_fit(limit: u64, derived: &Derived, kernels: &GpuKernels) -> Result<(), GpuError> {
    let plan = &kernels.plan.cell;
    let bytes = |words: u64| 4 * words.next_multiple_of(4);
    let params = derived.cell.params.iter().map(|(handle, _)| handle);
    let mut buffers = vec![("the parameters, packed in one buffer,", plan.params_len, params.collect::<Vec<_>>())];
    for launch in plan.projections.iter().filter(|l| l.kind == ProjectionKind::Dense) {
        let matrices = launch.products.iter().map(|p| p.param).collect();
        buffers.push(("the matrices of one input's projection", launch.columns() * launch.depth, matrices));
    }
    let Some((what, words, params)) = buffers.into_iter().find(|(_, words, _)| bytes(*words) > limit) else {
        return Ok(());
    };
    // The first of the largest.
    let largest = params.iter().rev().copied().max_by_key(|p| plan.params[p.index()].len);
    let reason = format!("{what} need {} bytes; the device binds at most {limit} bytes at once", bytes(words));
    let kind = wgsl::refusal::kind(derived, reason);
    let error = match largest {
        Some(param) => {
            let declared = &derived.cell.params[param];
            let size = bytes(plan.params[param.index()].len);
            rnnc_compiler::Error::new(kind, declared.span, format!("`{}`: {size} bytes", declared.name))
        }
        None => rnnc_compiler::Error::new(kind, derived.cell.span, "this cell"),
    };
    Err(GpuError::Unsupported(Box::new(error.with_hint(wgsl::CPU_RUNS_IT))))
}

impl GpuCell {
    /// Generates the cell's kernels for `dims` and compiles them on `gpu`.
    pub fn compile(gpu: &Gpu, derived: &Derived, dims: &DimSizes) -> Result<GpuCell, GpuError> {
        GpuCell::compile_with(gpu, derived, dims, |_| {})
    }

    /// [`GpuCell::compile`] with the device's target adjusted by `adjust`
    /// first (tests and measurements: a Newton knob, a GEMM shape).
    pub fn compile_with(
        gpu: &Gpu,
        derived: &Derived,
        dims: &DimSizes,
        adjust: impl FnOnce(&mut Target),
    ) -> Result<GpuCell, GpuError> {
        let mut target = Target {
            max_threads: gpu.max_threads_per_workgroup(),
            workgroup_bytes: gpu.max_workgroup_bytes(),
            chunk_len: std::env::var(CHUNK_ENV)
                .ok()
                .and_then(|v| v.parse().ok())
                .or(gpu.is_cpu().then_some(wgsl::LLVMPIPE_CHUNK_LEN)),
            // On a CPU device a short pipeline keeps its code path tested without
            // llvmpipe's compile time for long ones (3.5 s against 0.2 s a cell).
            pipeline_group: if gpu.is_cpu() { 2 } else { 32 },
            gemm: match std::env::var(GEMM_ENV) {
                Ok(text) => Some(text.parse().map_err(|e| GpuError::Settings(format!("{GEMM_ENV}: {e}")))?),
                Err(_) => None,
            },
            newton_unknowns: gpu.is_cpu().then_some(wgsl::LLVMPIPE_NEWTON_UNKNOWNS),
            newton_knobs: match std::env::var(NEWTON_ENV) {
                Ok(text) => text.parse().map_err(|e| GpuError::Settings(format!("{NEWTON_ENV}: {e}")))?,
                // On a CPU device (llvmpipe) the shape measured before run 32:
                // the most threads, 8 lanes a workgroup. llvmpipe vectorises over
                // neighbouring threads, which are then neighbouring lanes; with
                // one-lane workgroups the GPU tests' Newton kernels ran 10x slower.
                Err(_) if gpu.is_cpu() => wgsl::NewtonKnobs {
                    threads: Some(gpu.max_threads_per_workgroup()),
                    lanes: Some(wgsl::NEWTON_LANES),
                    ..wgsl::NewtonKnobs::default()
                },
                Err(_) => wgsl::NewtonKnobs::default(),
            },
        };
        adjust(&mut target);
        let kernels = wgsl::generate(derived, dims, &target).map_err(|e| match e.kind {
            rnnc_compiler::ErrorKind::BackendUnsupported { .. } => GpuError::Unsupported(Box::new(e)),
            _ => GpuError::Codegen(e.to_string()),
        })?;
        fixed_buffers_fit(gpu.max_binding_bytes(), derived, &kernels)?;
        let label = format!("{} recurrence", derived.cell.name);
        let sum_splits = gpu.kernel("sum_splits", &wgsl::GemmKernel::sum_splits_text(), "main")?;
        let transpose = gpu.kernel("transpose", &wgsl::TransposeLaunch::text(), "main")?;
        let newton = match kernels.newton {
            Some(_) => Some(gpu.kernel(&label, &kernels.recurrence, "newton")?),
            None => None,
        };
        let sequential = gpu.kernel(&label, &kernels.recurrence, "sequential")?;
        let adjoint = wgsl::generate_adjoint(derived, dims, &kernels.plan, kernels.newton).map_err(|e| e.to_string());
        let stage_kernels = match &kernels.stages {
            Some(stages) => {
                let label = format!("{} stage", derived.cell.name);
                let forward = stages.forward.iter().map(|text| gpu.kernel(&label, text, "stage_forward"));
                let backward = stages.backward.iter().map(|text| gpu.kernel(&label, text, "stage_backward"));
                Some(StagePipelines {
                    forward: forward.collect::<Result<_, _>>()?,
                    backward: backward.collect::<Result<_, _>>()?,
                })
            }
            None => None,
        };
        Ok(GpuCell {
            id: NEXT_CELL.fetch_add(1, Ordering::Relaxed),
            kernels,
            adjoint,
            max_batch_chunk: None,
            damps: !gpu.is_cpu(),
            gemm: Default::default(),
            sum_splits,
            transpose,
            newton,
            sequential,
            stage_kernels,
            workspace: Mutex::new(Workspace::default()),
        })
    }

    /// The matrix-product kernel for a product of `sizes` (its operands'
    /// layout), compiled on first use.
    pub(super) fn gemm_kernel(&self, gpu: &Gpu, sizes: &GemmSizes) -> Result<Arc<Kernel>, GpuError> {
        let layout = wgsl::GemmLayout::of(sizes, &self.kernels.gemm);
        self.gemm.get(layout, || gpu.kernel("gemm", &self.kernels.gemm.text(layout), "main"))
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

    /// The method `auto` picks for `batch` sequences of `steps` on `gpu`, and why;
    /// with `backward`, for a forward pass followed by its backward (a training
    /// step: Newton's is the reverse scan, the sequential method's the sequential
    /// backward). See [`auto_costs`].
    pub fn choose_method(&self, gpu: &Gpu, batch: usize, steps: usize, backward: bool) -> (Method, String) {
        let Some(shape) = self.kernels.newton else {
            return (Method::Sequential, self.kernels.no_newton.clone().unwrap_or_default());
        };
        let (sequential_time, newton_time) = auto_costs(&self.kernels, shape, gpu.is_cpu(), batch, steps, backward);
        let what = if backward { "forward + backward" } else { "forward" };
        if newton_time < sequential_time {
            let ratio = sequential_time / newton_time;
            (Method::Newton, format!("auto: {what} estimated {ratio:.1}x faster than sequential"))
        } else {
            let ratio = newton_time / sequential_time;
            (Method::Sequential, format!("auto: {what} estimated {ratio:.1}x faster than Newton"))
        }
    }

    /// The most sequences one pass may hold: every buffer within the device's
    /// binding size, and the batch within one dispatch dimension.
    pub(super) fn batch_chunk(&self, gpu: &Gpu, batch: usize, steps: usize) -> usize {
        let plan = &self.kernels.plan;
        let inputs = plan.cell.inputs.iter().sum::<u64>();
        // The backward pass's grads buffer holds the projections' and the inputs'
        // cotangents side by side; the stages' buffers (staged values and their
        // cotangents, parameter shares) hold a row per step too.
        let words_per_sequence = [
            plan.cell.projection_columns + inputs,
            plan.cell.outputs.iter().sum::<u64>(),
            plan.cell.states.iter().sum::<u64>(),
            plan.cell.stages.columns,
            self.kernels.stages.as_ref().map_or(0, |k| k.partial_columns),
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
        let shape = (data.batch(), data.seq_len());
        let run = self.prepare(gpu, &mut workspace, shape, ParamSource::Host(data.params()), method, false)?;
        let pass = run.whole_batch(shape, "a forward")?;
        let upload_inputs = !(reuse_inputs && workspace.resident_inputs == Some(shape));
        let io = PassIo::Host { data, upload_inputs, read_outputs: false };
        let (stats, _) = self.solve_pass(gpu, &mut workspace, &run, io, &pass, settings, false)?;
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
        let shape = (data.batch(), data.seq_len());
        let run = self.prepare(gpu, &mut workspace, shape, ParamSource::Host(data.params()), method, keep)?;
        let mut outputs: Outputs = vec![Vec::new(); self.kernels.plan.cell.outputs.len()];
        let mut total = PassStats::default();
        let passes: Vec<Pass> = self.passes(data, run.chunk).collect();
        for pass in &passes {
            let (stats, part) = self.solve_pass(gpu, &mut workspace, &run, PassIo::host(data), pass, settings, keep)?;
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
            exchange: None,
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

    /// What every pass of a run shares: the method (`auto`'s for a forward pass,
    /// or with `backward` for one followed by its backward, of `shape`'s batch
    /// and steps); the parameters on the device (from the host only when they
    /// changed since the last call; from an exchange at every call).
    pub(super) fn prepare(
        &self,
        gpu: &Gpu,
        workspace: &mut Workspace,
        shape: (usize, usize),
        params: ParamSource<'_>,
        method: Method,
        backward: bool,
    ) -> Result<Run, GpuError> {
        let plan = &self.kernels.plan;
        let (batch, steps) = shape;
        let (method, reason) = method.resolve(self.kernels.no_newton.as_deref(), self.kernels.plan.cell.linear, || {
            self.choose_method(gpu, batch, steps, backward)
        });
        // Commands a failed call left unsubmitted are dropped.
        drop(workspace.take_deferred());
        workspace.ensure(gpu, Slot::Params, plan.cell.params_len as usize)?;
        for (i, launch) in self.dense_launches() {
            workspace.ensure(gpu, Slot::Weights(i), (launch.columns() * launch.depth) as usize)?;
        }
        let fingerprint = match params {
            ParamSource::Host(tensors) => {
                let params = fingerprint(tensors.iter().map(|t| t.data()));
                if workspace.params_fingerprint != Some(params) {
                    let buffer = workspace.get(Slot::Params)?;
                    for (tensor, slot) in tensors.iter().zip(&plan.cell.params) {
                        gpu.write(buffer, slot.offset as usize, tensor.data())?;
                    }
                    for (i, launch) in self.dense_launches() {
                        let weights = workspace.get(Slot::Weights(i))?;
                        let mut row = 0;
                        for product in &launch.products {
                            gpu.write(weights, (row * launch.depth) as usize, tensors[product.param.index()].data())?;
                            row += product.rows;
                        }
                    }
                }
                params
            }
            ParamSource::Exchange(exchange) => self.copy_params(gpu, workspace, exchange)?,
            ParamSource::Resident => workspace
                .params_fingerprint
                .ok_or_else(|| GpuError::Device("internal: no parameters on the device".into()))?,
        };
        workspace.params_fingerprint = Some(fingerprint);
        Ok(Run { method, reason, params: fingerprint, chunk: self.batch_chunk(gpu, batch, steps) })
    }

    /// The dense projection launches, with their index among all launches.
    pub(super) fn dense_launches(&self) -> impl Iterator<Item = (usize, &ProjectionLaunch)> {
        self.kernels.plan.cell.projections.iter().enumerate().filter(|(_, l)| l.kind == ProjectionKind::Dense)
    }

    /// The passes a batch runs in: contiguous ranges of at most `chunk` sequences.
    pub(super) fn passes<'a>(&self, data: &'a BoundData, chunk: usize) -> impl Iterator<Item = Pass> + 'a {
        let (batch, steps) = (data.batch(), data.seq_len());
        (0..batch).step_by(chunk.max(1)).map(move |first| Pass { first, batch: chunk.min(batch - first), steps })
    }
}

/// Where a run's parameters come from.
#[derive(Clone, Copy)]
pub(super) enum ParamSource<'a> {
    /// The host's tensors (as the kernels read them), uploaded when their
    /// fingerprint differs from those on the device.
    Host(&'a [crate::data::Tensor]),
    /// An exchange, copied from on the device.
    Exchange(&'a super::exchange::Exchange),
    /// Those already on the device (a backward pass after its forward).
    Resident,
}

/// What every pass of a run shares.
#[derive(Clone)]
pub(super) struct Run {
    pub(super) method: Method,
    reason: String,
    /// The parameters' fingerprint.
    pub(super) params: u64,
    /// Sequences per pass.
    pub(super) chunk: usize,
}

impl Run {
    /// The one pass of a call that leaves its results on the device (`what`):
    /// the whole batch, or an error where the device takes fewer sequences.
    pub(super) fn whole_batch(&self, (batch, steps): (usize, usize), what: &str) -> Result<Pass, GpuError> {
        if self.chunk < batch {
            return Err(GpuError::Device(format!(
                "{what} on the device needs the batch in one pass; this device takes {} of {batch} sequences per pass",
                self.chunk,
            )));
        }
        Ok(Pass { first: 0, batch, steps })
    }

    /// The report of a run whose passes did `total`.
    pub(super) fn report(&self, gpu: &Gpu, total: &PassStats) -> ForwardReport {
        let timed = total.projection_ms.is_some();
        ForwardReport {
            backend: "gpu".to_owned(),
            device: gpu.describe(),
            method: self.method.name().to_owned(),
            method_reason: self.reason.clone(),
            backend_reason: None,
            iterations: total.iterations,
            converged: total.fallbacks == 0,
            residual: total.residual,
            damped_iterations: total.damped_iterations,
            fallback_segments: total.fallbacks,
            segments: total.segments,
            segment_methods: SegmentMethods::of(self.method, total.segments, total.fallbacks),
            timing: if timed { TIMING_GPU_TIMESTAMPS } else { TIMING_WALL_CLOCK }.to_owned(),
            time_ms: total.time_ms,
            projection_ms: total.projection_ms,
            recurrence_ms: total.recurrence_ms,
            backward_ms: None,
            backward_scan_ms: None,
            gradient_products_ms: None,
            weight_gradients_ms: None,
            input_gradients_ms: None,
            wall_ms: total.time_ms,
        }
    }
}

/// `auto`'s estimates (seconds, or unit costs on a CPU device) of the sequential
/// method and of Newton for `batch` sequences of `steps`, forward only or with
/// the backward pass (`backward`).
///
/// Both kernels are modelled as the longer of a chain of dependent steps and
/// their work spread over the device. On a discrete GPU the constants come from
/// an H200 (docs/PERFORMANCE.md): the sequential kernel takes about 30 us plus,
/// a step, 0.17 us for a lane of one unknown, 0.21 for two and 0.04 K^2 us
/// beyond (run 104, N = 1024, B = 8, T = 8192: ParaGRU 1.39 ms, ParaLSTM 1.70,
/// block_elman (K = 4) 5.26) when software-pipelined (0.5 us a step when not),
/// whatever the batch, while it has fewer threads than the device holds; a
/// Newton iteration over one segment about 6 us, and its work per lane and
/// step (all iterations and the guess's two sweeps; run 107, the same sizes)
/// 15.5 ps for one unknown (ParaGRU 1.03 ms), 23 ps for two (ParaLSTM 1.55),
/// 3.35 ps K^3 beyond (block_elman, 6 iterations: 3.60 ms). Backward: the reverse scan costs about a
/// Newton forward (run 26: ParaGRU 1.49 against 1.47 ms, ParaLSTM 2.68 against
/// 2.38), the sequential backward about 0.6 us per step and unknown (ParaGRU
/// 5.04 ms, ParaLSTM 11.19 ms at T = 8192). On a CPU device (lavapipe) the
/// earlier unit-cost model stays, and the backward doubles both.
pub(super) fn auto_costs(
    kernels: &GpuKernels,
    shape: NewtonShape,
    cpu_device: bool,
    batch: usize,
    steps: usize,
    backward: bool,
) -> (f64, f64) {
    let threads = (batch as u64 * kernels.plan.lanes) as f64;
    let segments = (steps as f64 / shape.segment() as f64).ceil();
    // Newton's typical iterations; a linear cell's scan is one.
    let iterations = if kernels.plan.cell.linear { 1.0 } else { 4.0 };
    if cpu_device {
        // Unit costs: the sequential kernel has B x lanes threads, each walking
        // T steps; Newton walks ~4 iterations (a scan: 1) x (2 N + log2 S)
        // dependent steps per segment of S N.
        let parallel = 8.0;
        let newton_depth = segments * iterations * (2.0 * shape.chunk_len as f64 + (shape.chunks as f64).log2() * 2.0);
        let sequential = steps as f64 * (threads / parallel).max(1.0);
        let newton = newton_depth.max(2.0 * iterations * threads * steps as f64 / parallel);
        let passes = if backward { 2.0 } else { 1.0 };
        return (passes * sequential, passes * newton);
    }
    const NEWTON_ITERATION_S: f64 = 6e-6;
    const DEVICE_THREADS: f64 = 262_144.0;
    const SEQUENTIAL_BACKWARD_STEP_S: f64 = 0.6e-6;
    const SEQUENTIAL_START_S: f64 = 30e-6;
    let k = kernels.plan.unknowns as f64;
    let sequential_step_s = match kernels.plan.unknowns {
        _ if kernels.pipeline_group <= 1 => 0.5e-6,
        0..=1 => 0.17e-6,
        2 => 0.21e-6,
        _ => 0.04e-6 * k * k,
    };
    let spread = (threads / DEVICE_THREADS).max(1.0);
    let sequential = SEQUENTIAL_START_S + steps as f64 * sequential_step_s * spread;
    let lane_step_s = match kernels.plan.unknowns {
        0..=1 => 15.5e-12,
        2 => 23e-12,
        _ => 3.35e-12 * k * k * k,
    };
    let newton =
        (segments * iterations * NEWTON_ITERATION_S).max(iterations / 4.0 * threads * steps as f64 * lane_step_s);
    if backward {
        (sequential + steps as f64 * SEQUENTIAL_BACKWARD_STEP_S * k * spread, 2.0 * newton)
    } else {
        (sequential, newton)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernels(name: &str, size: u64) -> GpuKernels {
        let cell =
            rnnc_compiler::check_source(rnnc_stdlib::get(name).expect("shipped").source).expect("checks").remove(0);
        let dims = cell.bind_dims(|_| Some(size)).expect("binds");
        let derived = rnnc_compiler::derive_cell(&cell).expect("derives");
        wgsl::generate(&derived, &dims, &Target { workgroup_bytes: 48 * 1024, max_threads: 1024, ..Target::default() })
            .expect("generates")
    }

    /// Parameters beyond one binding are refused at the first of the largest
    /// (ParaGRU's three matrices of H x D words), with the CPU as the way out;
    /// the packed parameters of para_gru_mh (blocks) likewise; within the
    /// limit, nothing is refused.
    #[test]
    fn parameters_beyond_one_binding_are_refused_at_the_largest() {
        for (name, first) in [("para_gru", "Bz"), ("para_gru_mh", "Bz")] {
            let source = rnnc_stdlib::get(name).expect("shipped").source;
            let cell = rnnc_compiler::check_source(source).expect("checks").remove(0);
            let size = if name == "para_gru" { 64 } else { 1024 };
            let dims = cell.bind_dims(|_| Some(size)).expect("binds");
            let derived = rnnc_compiler::derive_cell(&cell).expect("derives");
            let kernels = wgsl::generate(&derived, &dims, &Target::default()).expect("generates");
            let words = kernels.plan.cell.params_len;
            assert!(fixed_buffers_fit(4 * words.next_multiple_of(4), &derived, &kernels).is_ok());
            let Err(GpuError::Unsupported(error)) = fixed_buffers_fit(4 * words - 4, &derived, &kernels) else {
                panic!("{name}: not refused");
            };
            let param = cell.params.values().find(|p| p.name == first).expect("declared");
            assert_eq!(error.span, param.span, "{name}: {error:?}");
            assert!(error.to_string().contains("the parameters, packed in one buffer,"), "{error}");
            assert!(error.notes.iter().any(|n| n.message == wgsl::CPU_RUNS_IT), "{error:?}");
        }
    }

    /// A linear cell's scan is one iteration: `auto` estimates it at a quarter
    /// of Newton's typical four, on GPUs and CPU devices alike.
    #[test]
    fn auto_costs_a_scan_as_one_iteration() {
        let scan = kernels("minlstm", 1024);
        assert!(scan.plan.cell.linear);
        let shape = scan.newton.expect("a Newton kernel");
        let mut newton = scan.clone();
        newton.plan.cell.linear = false;
        for cpu_device in [false, true] {
            for (batch, steps) in [(1, 65536), (8, 8192)] {
                let (_, one) = auto_costs(&scan, shape, cpu_device, batch, steps, false);
                let (_, four) = auto_costs(&newton, shape, cpu_device, batch, steps, false);
                assert!((four / one - 4.0).abs() < 1e-9, "{cpu_device} {batch} {steps}: {one} vs {four}");
            }
        }
    }

    /// `auto`'s choice lands within 10% of the faster method on every row
    /// measured on an H200 (docs/measurements/h200-run33.jsonl, the rows
    /// after the Newton workgroups were chosen by lanes, h200-run55.jsonl, and
    /// after the faster products, h200-run63.jsonl, and with the guess's two
    /// sweeps, h200-run107.jsonl with run 104's sequential figures; medians
    /// of 5 to 7, resident): the recurrence alone for a forward, the whole
    /// forward and backward otherwise. The earlier runs' rows where the
    /// sequential method was the faster are gone: the sweeps made Newton the
    /// faster there. Rows: (cell, size, batch, steps, backward, sequential
    /// ms, Newton ms).
    #[test]
    fn auto_follows_the_measured_rows() {
        let rows = [
            ("para_gru_mh", 1024, 8, 512, false, 0.1197, 0.0727),
            ("para_gru_mh", 1024, 8, 2048, false, 0.3724, 0.2686),
            ("para_gru_mh", 1024, 8, 8192, false, 1.3844, 1.0611),
            ("para_gru_mh", 1024, 8, 512, true, 1.982, 1.707),
            ("para_gru_mh", 1024, 8, 2048, true, 7.384, 6.302),
            ("para_gru_mh", 1024, 8, 8192, true, 28.70, 24.39),
            ("para_lstm_cifg_mh", 1024, 8, 512, false, 0.1276, 0.1152),
            ("para_lstm_cifg_mh", 1024, 8, 2048, false, 0.4404, 0.4182),
            ("para_lstm_cifg_mh", 1024, 8, 8192, false, 1.6933, 1.6450),
            ("para_lstm_cifg_mh", 1024, 8, 512, true, 2.361, 1.784),
            ("para_lstm_cifg_mh", 1024, 8, 2048, true, 8.996, 6.598),
            ("para_lstm_cifg_mh", 1024, 8, 8192, true, 35.23, 25.71),
            ("para_gru", 256, 1, 65536, false, 10.798, 0.7151),
            ("para_lstm", 256, 1, 65536, false, 13.22, 0.980),
            ("block_elman", 256, 1, 65536, false, 39.65, 3.00),
            ("para_lstm_cifg_mh", 512, 1, 65536, false, 13.23, 1.557),
            // Run 63.
            ("para_gru_mh", 1024, 8, 8192, false, 1.391, 1.134),
            ("para_gru_mh", 1024, 8, 512, true, 1.610, 1.330),
            ("para_gru_mh", 1024, 8, 8192, true, 22.735, 18.388),
            ("para_lstm_cifg_mh", 1024, 8, 512, false, 0.130, 0.125),
            ("para_lstm_cifg_mh", 1024, 8, 2048, true, 7.624, 5.187),
            ("para_lstm_cifg_mh", 1024, 8, 8192, true, 29.478, 19.760),
            ("para_gru", 256, 1, 65536, false, 10.770, 0.637),
            ("block_elman", 256, 1, 65536, false, 40.647, 3.012),
            // Runs 104 (sequential) and 107 (Newton with the guess's two sweeps).
            ("para_gru", 1024, 8, 2048, false, 0.376, 0.263),
            ("para_gru", 1024, 8, 8192, false, 1.390, 1.029),
            ("para_lstm", 1024, 8, 8192, false, 1.700, 1.547),
            ("block_elman", 1024, 8, 8192, false, 5.257, 3.599),
            ("para_gru", 256, 1, 65536, false, 10.791, 0.593),
            ("para_lstm", 256, 1, 65536, false, 13.286, 0.795),
            ("block_elman", 256, 1, 65536, false, 40.612, 2.233),
        ];
        for (name, size, batch, steps, backward, sequential_ms, newton_ms) in rows {
            let kernels = kernels(name, size);
            let shape = kernels.newton.expect("a Newton kernel");
            let (sequential, newton) = auto_costs(&kernels, shape, false, batch, steps, backward);
            let picked_ms = if newton < sequential { newton_ms } else { sequential_ms };
            let fastest_ms = f64::min(sequential_ms, newton_ms);
            assert!(
                picked_ms <= 1.1 * fastest_ms,
                "{name} N={size} B={batch} T={steps} backward={backward}: modelled {sequential:.2e} s sequential, \
                 {newton:.2e} s Newton; measured {sequential_ms} and {newton_ms} ms"
            );
        }
    }
}
