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
use rnnc_compiler::backend::wgsl::{self, AdjointKernels, GemmSizes, GpuKernels, Target};
use rnnc_compiler::check::DimSizes;
use rnnc_compiler::plan::ProjectionLaunch;

use super::auto::auto_costs;
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
            Some(_) => {
                let constants = kernels.newton_projections.pipeline_constants();
                Some(gpu.kernel_with(&label, &kernels.recurrence, "newton", &constants)?)
            }
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
        // cotangents side by side, and the lane groups' shares of replicated
        // projections' (lanes of whole rows); the stages' buffers (staged values
        // and their cotangents, parameter shares) hold a row per step too.
        let shares = self.adjoint.as_ref().map_or(0, |a| a.share_groups(plan) * plan.replicated_width());
        let words_per_sequence = [
            plan.cell.projection_columns + inputs + shares,
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
