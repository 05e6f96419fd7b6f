//! The backward pass on the GPU: from a forward pass's tape (its inputs,
//! projections and every state, still on the device), the adjoint kernels (a
//! reverse scan, or one step after another) and the projections' gradients as
//! matrix products over every step (`gradient_products.rs`), in one submission
//! per pass, read back and summed over passes.

use std::sync::Arc;
use std::time::Instant;

use rnnc_compiler::backend::wgsl::{AdjointKernels, GradientLayout, SEQUENTIAL_LANES, shares};

use super::cell::ParamSource;
use super::cell::{GpuCell, GpuTape, Outputs};
use super::copy::Copies;
use super::device::{Gpu, GpuError};
use super::exchange::Exchange;
use super::kernel::{Dispatch, Kernel, Recorder};
use super::pass::{Pass, PassIo, windows};
use super::timing::{Phase, PhaseTimes};
use super::workspace::{Slot, Uploads, Workspace};
use crate::data::BoundData;
use crate::solve::{ForwardReport, GradientBuffers, Method, NewtonSettings};

/// The times of a backward pass (summed over passes), in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BackwardTimes {
    /// The backward recurrence and the gradient products.
    pub backward_ms: f64,
    /// Of which the backward recurrence (GPU timestamps only).
    pub scan_ms: Option<f64>,
    /// Of which the gradient products (GPU timestamps only).
    pub products_ms: Option<f64>,
    /// Of those, the projection matrices' gradients.
    pub weight_gradients_ms: Option<f64>,
    /// Of those, the inputs' gradients through the projections.
    pub input_gradients_ms: Option<f64>,
    /// Host time of the whole backward call.
    pub wall_ms: f64,
    /// Whether the forward was solved again (a batch that ran in several passes).
    pub forward_recomputed: bool,
}

impl GpuCell {
    /// Runs the cell forward over `data` and back: the gradients of `sum over
    /// outputs o of sum(douts[o] * o)` (each `douts[o]` `[B, T, size]`) with respect
    /// to every parameter, input and initial state. Returns the forward's outputs,
    /// the gradients, and the forward's report with the backward's times. The
    /// backward runs by the forward's method: Newton's forward goes with the
    /// reverse scan, the sequential one with the sequential backward.
    pub fn backward(
        &self,
        gpu: &Gpu,
        data: &BoundData,
        douts: &[Vec<f32>],
        method: Method,
        settings: &NewtonSettings,
    ) -> Result<(Outputs, GradientBuffers, ForwardReport), GpuError> {
        let (outputs, mut report, tape) = self.forward_tape(gpu, data, method, settings)?;
        let (gradients, times) = self.backward_tape(gpu, data, douts, tape, settings)?;
        times.add_to(&mut report);
        Ok((outputs, gradients, report))
    }

    /// The backward pass of the forward pass that made `tape` (over the same
    /// `data`): the gradients, and the times. The forward's states are used as
    /// they are when its batch ran in one pass; otherwise each pass is solved
    /// again (by the tape's method) before its backward.
    pub fn backward_tape(
        &self,
        gpu: &Gpu,
        data: &BoundData,
        douts: &[Vec<f32>],
        tape: GpuTape,
        settings: &NewtonSettings,
    ) -> Result<(GradientBuffers, BackwardTimes), GpuError> {
        let wall = Instant::now();
        if tape.cell != self.id()
            || tape.batch != data.batch()
            || tape.steps != data.seq_len()
            || tape.exchange.is_some()
        {
            return Err(GpuError::Tape("the tape was made by another cell or for other data".into()));
        }
        let adjoint = self.adjoint.as_ref().map_err(|reason| GpuError::Codegen(reason.clone()))?;
        let plan = &self.kernels().plan;
        let mut workspace = self.workspace();
        let recompute = !tape.keeps_states();
        for (slot, buffer) in tape.buffers {
            workspace.put(slot, buffer);
        }
        let shape = (data.batch(), data.seq_len());
        let run = self.prepare(gpu, &mut workspace, shape, ParamSource::Host(data.params()), tape.method, true)?;
        if run.params != tape.params {
            return Err(GpuError::Tape("the parameters changed between the forward and the backward pass".into()));
        }
        let (scan, kernel) = self.adjoint_kernel(gpu, adjoint, run.method)?;
        let mut gradients = GradientBuffers {
            params: data.params().iter().map(|t| vec![0.0; t.len()]).collect(),
            inputs: vec![Vec::new(); plan.cell.inputs.len()],
            inits: vec![Vec::new(); plan.cell.states.len()],
        };
        let mut times = BackwardTimes { forward_recomputed: recompute, ..BackwardTimes::default() };
        let passes: Vec<Pass> = self.passes(data, run.chunk).collect();
        for pass in &passes {
            if recompute {
                // The tape could not hold every pass's states: solve this one again.
                self.solve_pass(gpu, &mut workspace, &run, PassIo::host(data), pass, settings, true)?;
            }
            let context = PassContext { pass, adjoint, scan, kernel: &kernel };
            let (part, pass_times) =
                self.backward_pass(gpu, &mut workspace, &context, BackwardIo::host(data, douts))?;
            times.merge(&pass_times);
            for (all, part) in gradients.params.iter_mut().zip(part.params) {
                for (a, p) in all.iter_mut().zip(part) {
                    *a += p;
                }
            }
            for (all, part) in gradients.inputs.iter_mut().zip(part.inputs) {
                all.extend(part);
            }
            for (all, part) in gradients.inits.iter_mut().zip(part.inits) {
                all.extend(part);
            }
        }
        data.sum_scalar_gradients(&mut gradients);
        times.wall_ms = wall.elapsed().as_secs_f64() * 1e3;
        Ok((gradients, times))
    }

    /// Whether the device holds cotangents (and inputs) of `data`'s shape from
    /// the last [`GpuCell::backward_on_device`].
    pub fn holds_douts(&self, data: &BoundData) -> bool {
        self.workspace().holds_pass_data((data.batch(), data.seq_len()))
    }

    /// The backward kernel that follows a forward by `method` (the reverse scan
    /// after Newton, where the cell has one), and whether it is the scan; its
    /// pipeline made for the projections' layout that forward wrote
    /// (`GpuCell::projection_layout`).
    pub(super) fn adjoint_kernel(
        &self,
        gpu: &Gpu,
        adjoint: &AdjointKernels,
        method: Method,
    ) -> Result<(bool, Arc<Kernel>), GpuError> {
        let scan = method.is_parallel() && adjoint.scan.is_some();
        let entry = if scan { "adjoint_scan" } else { "adjoint_sequential" };
        let constants = self.projection_layout(method).pipeline_constants();
        Ok((scan, gpu.kernel_with("backward", &adjoint.text, entry, &constants)?))
    }

    /// Runs the cell forward over `data` and back, leaving everything on the
    /// device (only the report comes back, with the backward's times), for timing
    /// the device's pipeline as a training step with device-resident tensors runs
    /// it. With `douts` (each output's cotangents), they and the inputs are
    /// uploaded; without, the last call's stay in place (the caller promises they
    /// are `data`'s: see [`GpuCell::holds_douts`]). A batch must fit one pass.
    /// The gradients stay on the device; the diagonal parameters' partial sums
    /// (summed on the host by [`GpuCell::backward`]) are not summed.
    pub fn backward_on_device(
        &self,
        gpu: &Gpu,
        data: &BoundData,
        douts: Option<&[Vec<f32>]>,
        method: Method,
        settings: &NewtonSettings,
    ) -> Result<ForwardReport, GpuError> {
        settings.validate().map_err(|e| GpuError::Settings(e.to_string()))?;
        let wall = Instant::now();
        let adjoint = self.adjoint.as_ref().map_err(|reason| GpuError::Codegen(reason.clone()))?;
        let mut workspace = self.workspace();
        let shape = (data.batch(), data.seq_len());
        let run = self.prepare(gpu, &mut workspace, shape, ParamSource::Host(data.params()), method, true)?;
        let pass = run.whole_batch(shape, "a backward")?;
        let resident = douts.is_none();
        if resident && !workspace.holds_pass_data(shape) {
            return Err(GpuError::Device("no cotangents of this shape are on the device".into()));
        }
        let forward = PassIo::Host { data, upload_inputs: !resident, read_outputs: false };
        let (stats, _) = self.solve_pass(gpu, &mut workspace, &run, forward, &pass, settings, true)?;
        workspace.resident_inputs = Some(shape);
        let (scan, kernel) = self.adjoint_kernel(gpu, adjoint, run.method)?;
        let context = PassContext { pass: &pass, adjoint, scan, kernel: &kernel };
        let backward =
            BackwardIo::Host { data, douts: douts.unwrap_or_default(), upload_douts: !resident, read_gradients: false };
        let (_, times) = self.backward_pass(gpu, &mut workspace, &context, backward)?;
        workspace.resident_douts = Some(shape);
        let mut report = run.report(gpu, &stats);
        times.add_to(&mut report);
        report.wall_ms = wall.elapsed().as_secs_f64() * 1e3;
        Ok(report)
    }

    /// The backward of one solved pass (its forward's buffers in the workspace):
    /// its sequences' input and initial-state gradients, its share of the
    /// parameters' gradients, and its times (with `io` not reading gradients
    /// off, the gradients stay on the device and come back empty).
    pub(super) fn backward_pass(
        &self,
        gpu: &Gpu,
        workspace: &mut Workspace,
        context: &PassContext<'_>,
        io: BackwardIo<'_>,
    ) -> Result<(GradientBuffers, BackwardTimes), GpuError> {
        let PassContext { pass, adjoint, scan, kernel, .. } = *context;
        let plan = &self.kernels().plan;
        let rows = pass.rows();
        let output_words: usize = plan.cell.outputs.iter().sum::<u64>() as usize;
        workspace.ensure(gpu, Slot::Douts, rows * output_words)?;
        let layout = GradientLayout::new(plan, adjoint, pass.batch as u64, pass.steps as u64, scan);
        workspace.ensure(gpu, Slot::Grads, layout.len as usize)?;
        for launch in &plan.cell.projections {
            let x_len = plan.cell.inputs[launch.input.index()];
            workspace.ensure(gpu, Slot::InputGrads(launch.input.index()), rows * x_len as usize)?;
        }
        let stage_kernels = self.kernels().stages.as_ref();
        let partial_columns = stage_kernels.map_or(0, |k| k.partial_columns) as usize;
        if stage_kernels.is_some() {
            workspace.ensure(gpu, Slot::StagedGrads, (rows * plan.cell.stages.columns as usize).max(1))?;
            workspace.ensure(gpu, Slot::StagePartials, (rows * partial_columns).max(1))?;
        }
        // The cotangents of the pass's sequences, and its initial states again
        // (the forward recurrence left its last states in their place).
        let mut uploads = Uploads::default();
        match io {
            BackwardIo::Host { data, douts, upload_douts, .. } => {
                if upload_douts {
                    for ((d, &size), &prefix) in douts.iter().zip(&plan.cell.outputs).zip(&plan.output_prefix) {
                        let per_sequence = pass.steps * size as usize;
                        let part = &d[pass.first * per_sequence..(pass.first + pass.batch) * per_sequence];
                        uploads.data(Slot::Douts, rows as u64 * prefix, part);
                    }
                }
                self.pass_uploads(&PassIo::host(data), pass, false, &mut uploads);
            }
            BackwardIo::Exchange { exchange, .. } => {
                for (region, &prefix) in exchange.layout().douts().iter().zip(&plan.output_prefix) {
                    uploads.copy_from_exchange(
                        Slot::Douts,
                        rows as u64 * prefix,
                        region.offset as u64,
                        region.len() as u64,
                    );
                }
                self.pass_uploads(&PassIo::Exchange { exchange, ordered: false }, pass, false, &mut uploads);
            }
        }
        let exchange = match io {
            BackwardIo::Exchange { exchange, .. } => Some(exchange),
            BackwardIo::Host { .. } => None,
        };

        // The backward recurrence: windows from the last to the first, the
        // cotangent carried between them.
        let groups_x = |per: u64| plan.lanes.div_ceil(per).max(1) as u32;
        let grid = match adjoint.scan {
            Some(shape) if scan => [groups_x(shape.lanes), pass.batch as u32, 1],
            _ => [groups_x(SEQUENTIAL_LANES), pass.batch as u32, 1],
        };
        let records: Vec<_> = windows(pass.steps, if scan { adjoint.scan } else { None }, plan.unknowns, gpu.is_cpu())
            .into_iter()
            .rev()
            .map(|window| self.settings(pass, &NewtonSettings::default(), window, false))
            .collect();
        let mut recurrence: Vec<Dispatch> = self
            .window_bind_groups(gpu, workspace, kernel, &adjoint.bindings, true, &records, &mut uploads)?
            .into_iter()
            .map(|bind_group| Dispatch { kernel: Arc::clone(kernel), bind_group, grid })
            .collect();
        if !plan.replicated.is_empty() {
            // Lanes of whole rows: the lanes' shares of the replicated
            // projections' cotangents, summed into their columns. Its settings
            // record is the first window's again (it reads the pass's sizes).
            let sums = gpu.kernel("backward", &adjoint.text, "replicated_sums")?;
            let grid = shares::sums_grid(plan, rows as u64, gpu.max_workgroups_per_dimension());
            let first = &records[..1];
            let groups =
                self.window_bind_groups(gpu, workspace, &sums, &adjoint.bindings, true, first, &mut uploads)?;
            recurrence.extend(groups.into_iter().map(|bind_group| Dispatch {
                kernel: Arc::clone(&sums),
                bind_group,
                grid,
            }));
        }
        let (weight_products, input_products) =
            self.gradient_products(gpu, workspace, rows as u64, exchange, &mut uploads)?;
        let assembly = match exchange {
            Some(exchange) => Some(self.gradient_assembly(gpu, exchange, &layout, pass, scan)?),
            None => None,
        };

        // Read back everything after the projections' cotangents, then each
        // input's and each launch's matrix gradients.
        let tail_words = (layout.len - layout.inputs) as usize;
        let mut reads: Vec<(Slot, u64, usize)> = vec![(Slot::Grads, layout.inputs, tail_words)];
        let mut inputs_read: Vec<usize> = Vec::new();
        for launch in &plan.cell.projections {
            let input = launch.input.index();
            if !inputs_read.contains(&input) {
                inputs_read.push(input);
                reads.push((Slot::InputGrads(input), 0, rows * plan.cell.inputs[input] as usize));
            }
        }
        for (i, launch) in plan.cell.projections.iter().enumerate() {
            reads.push((Slot::WeightGrads(i), 0, (launch.columns() * launch.depth) as usize));
        }
        for (j, launch) in plan.cell.stages.launches.iter().enumerate() {
            let len = (launch.product.rows * launch.depth) as usize;
            reads.push((Slot::WeightGrads(plan.cell.projections.len() + j), 0, len));
        }
        if partial_columns > 0 {
            reads.push((Slot::StagePartialSums, 0, partial_columns - 1));
        }
        let read_gradients = matches!(io, BackwardIo::Host { read_gradients: true, .. });
        if !read_gradients {
            reads.clear();
        }
        let total_bytes: u64 = reads.iter().map(|&(_, _, len)| len as u64 * 4).sum();
        let readback = workspace.readback(gpu, total_bytes.max(4))?;
        workspace.ensure_timer(gpu)?;
        let copies_in = Copies::plan(gpu, workspace, uploads.exchange_copies())?;
        let gradients_out = Copies::plan(gpu, workspace, assembly.iter().flat_map(|a| a.elementwise_copies()))?;
        let mut recorder = Recorder::new(gpu, "backward");
        workspace.stage(gpu, &uploads, &mut recorder.encoder)?;
        copies_in.record(&mut recorder, workspace)?;
        let params_copies = workspace.take_deferred();
        let workspace = &*workspace;
        let ordered = matches!(io, BackwardIo::Exchange { ordered: true, .. });
        let timer = workspace.timer().filter(|_| !ordered);
        // Only what accumulates is cleared: the inputs' elementwise cotangents,
        // the initial states' and the accumulators; the projections' cotangents
        // too when some projection has none (it is then never written).
        let grads = &workspace.get(Slot::Grads)?.buffer;
        // The stages' pullbacks add to the `dP` of the values beneath them.
        let clear_from = if adjoint.writes_every_projection && stage_kernels.is_none() { layout.inputs } else { 0 };
        recorder.encoder.clear_buffer(grads, clear_from * 4, Some((layout.len - clear_from) * 4));
        recorder.phase("backward recurrence", timer.map(|t| (t, Phase::BackwardScan)), &recurrence)?;
        recorder.phase("weight gradients", timer.map(|t| (t, Phase::WeightGradients)), &weight_products)?;
        gradients_out.record(&mut recorder, workspace)?;
        recorder.phase("input gradients", timer.map(|t| (t, Phase::InputGradients)), &input_products)?;
        if let Some(assembly) = &assembly {
            assembly.record_sums(&mut recorder, workspace)?;
        }
        let mut at = 0u64;
        for &(slot, offset, len) in &reads {
            let bytes = len as u64 * 4;
            if bytes > 0 {
                let source = workspace.get(slot)?;
                recorder.encoder.copy_buffer_to_buffer(
                    &source.buffer,
                    source.byte_offset(offset),
                    &readback,
                    at,
                    bytes,
                );
            }
            at += bytes;
        }
        let phases = [Phase::BackwardScan, Phase::WeightGradients, Phase::InputGradients];
        if let Some(timer) = timer {
            timer.resolve(&mut recorder.encoder, &phases);
        }
        if let (true, Some(exchange)) = (ordered, exchange) {
            exchange.stage_signal(gpu)?;
        }
        let start = Instant::now();
        recorder.submit_after(params_copies)?;
        let words: Vec<f32> = if read_gradients {
            gpu.map_read(&readback, total_bytes)?
        } else if ordered {
            Vec::new()
        } else {
            gpu.finish_submitted()?;
            Vec::new()
        };
        let wall_ms = start.elapsed().as_secs_f64() * 1e3;
        let phase_times: PhaseTimes = match timer {
            Some(timer) => timer.read(gpu, &phases)?,
            None => PhaseTimes::default(),
        };
        let scan_ms = phase_times[Phase::BackwardScan as usize];
        let weight_gradients_ms = phase_times[Phase::WeightGradients as usize];
        let input_gradients_ms = phase_times[Phase::InputGradients as usize];
        let products_ms = weight_gradients_ms.zip(input_gradients_ms).map(|(w, i)| w + i);
        let times = BackwardTimes {
            backward_ms: match (scan_ms, products_ms) {
                (Some(s), Some(p)) => s + p,
                _ => wall_ms,
            },
            scan_ms,
            products_ms,
            weight_gradients_ms,
            input_gradients_ms,
            wall_ms,
            forward_recomputed: false,
        };
        if !read_gradients {
            return Ok((GradientBuffers { params: Vec::new(), inputs: Vec::new(), inits: Vec::new() }, times));
        }

        // Unpack: the grads tail, then the inputs' and the launches' products.
        let mut parts = Vec::new();
        let mut offset = 0usize;
        for &(_, _, len) in &reads {
            parts.push(&words[offset..offset + len]);
            offset += len;
        }
        let tail = parts[0];
        let at = |offset: u64| (offset - layout.inputs) as usize;
        let mut out = GradientBuffers { params: Vec::new(), inputs: Vec::new(), inits: Vec::new() };
        for (i, &d) in plan.cell.inputs.iter().enumerate() {
            let start = at(layout.inputs + rows as u64 * plan.input_prefix[i]);
            out.inputs.push(tail[start..start + rows * d as usize].to_vec());
        }
        for (k, &input) in inputs_read.iter().enumerate() {
            for (g, d) in out.inputs[input].iter_mut().zip(parts[1 + k]) {
                *g += d;
            }
        }
        for (s, &h) in plan.cell.states.iter().enumerate() {
            let start = at(layout.inits + pass.batch as u64 * plan.state_prefix[s]);
            out.inits.push(tail[start..start + pass.batch * h as usize].to_vec());
        }
        let weight_grads = &parts[1 + inputs_read.len()..];
        out.params = self.param_gradients(adjoint, &tail[at(layout.partials)..], weight_grads, pass.batch, scan);
        // The staged launches' matrices (`[rows, depth]` row-major for a dense
        // one, `[H/K, K, K]` for a block one: both the storage layout), and the
        // stages' parameter shares summed over the steps.
        let staged_grads = &weight_grads[plan.cell.projections.len()..];
        for (launch, dw) in plan.cell.stages.launches.iter().zip(staged_grads) {
            for (g, d) in out.params[launch.product.param.index()].iter_mut().zip(dw.iter()) {
                *g += d;
            }
        }
        if let Some(stage_kernels) = stage_kernels.filter(|_| partial_columns > 0) {
            let sums = parts[parts.len() - 1];
            for partial in &stage_kernels.partials {
                let shares = &sums[partial.column as usize..][..partial.len as usize];
                for (g, d) in out.params[partial.param.index()].iter_mut().zip(shares) {
                    *g += d;
                }
            }
        }
        Ok((out, times))
    }

    /// Every word of one pass's per-thread accumulators (from the start of the
    /// partial sums) with the parameter element it adds to: `(word, parameter,
    /// element)`, elements within the parameter as the kernels read it.
    pub(super) fn accumulator_terms(
        &self,
        adjoint: &AdjointKernels,
        batch: usize,
        scan: bool,
    ) -> impl Iterator<Item = (usize, usize, usize)> {
        let plan = &self.kernels().plan;
        let width = adjoint.accumulator_len.max(1) as usize;
        let threads = if scan { adjoint.scan.map_or(1, |s| s.chunks) as usize } else { 1 };
        (0..batch * threads * plan.lanes as usize).flat_map(move |slot| {
            let lane = (slot % plan.lanes as usize) as u64;
            adjoint.accumulators.iter().flat_map(move |accumulator| {
                let len = plan.cell.params[accumulator.param.index()].len;
                (0..accumulator.len).filter_map(move |i| {
                    let index = accumulator.param_index(lane, i);
                    (index < len).then(|| {
                        (slot * width + (accumulator.offset + i) as usize, accumulator.param.index(), index as usize)
                    })
                })
            })
        })
    }

    /// The parameters' gradients of one pass: the threads' accumulators summed
    /// and scattered, and the projection launches' matrix gradients split by
    /// parameter (a block launch's is its parameter's, in storage order).
    fn param_gradients(
        &self,
        adjoint: &AdjointKernels,
        partials: &[f32],
        weight_grads: &[&[f32]],
        batch: usize,
        scan: bool,
    ) -> Vec<Vec<f32>> {
        let plan = &self.kernels().plan;
        let mut params: Vec<Vec<f32>> = plan.cell.params.iter().map(|slot| vec![0.0; slot.len as usize]).collect();
        for (word, param, index) in self.accumulator_terms(adjoint, batch, scan) {
            params[param][index] += partials[word];
        }
        // Row `i` of a launch's matrix is `depth` words at `i * depth` (both kinds).
        for (launch, dw) in plan.cell.projections.iter().zip(weight_grads) {
            let depth = launch.depth as usize;
            let mut row = 0usize;
            for product in &launch.products {
                let len = product.rows as usize * depth;
                for (g, d) in params[product.param.index()].iter_mut().zip(&dw[row * depth..][..len]) {
                    *g += d;
                }
                row += product.rows as usize;
            }
        }
        params
    }
}

impl BackwardTimes {
    fn merge(&mut self, other: &BackwardTimes) {
        let add = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.backward_ms += other.backward_ms;
        self.scan_ms = add(self.scan_ms, other.scan_ms);
        self.products_ms = add(self.products_ms, other.products_ms);
        self.weight_gradients_ms = add(self.weight_gradients_ms, other.weight_gradients_ms);
        self.input_gradients_ms = add(self.input_gradients_ms, other.input_gradients_ms);
    }

    /// Writes these times into a forward's report.
    pub fn add_to(&self, report: &mut ForwardReport) {
        report.backward_ms = Some(self.backward_ms);
        report.backward_scan_ms = self.scan_ms;
        report.gradient_products_ms = self.products_ms;
        report.weight_gradients_ms = self.weight_gradients_ms;
        report.input_gradients_ms = self.input_gradients_ms;
        report.wall_ms += self.wall_ms;
    }
}

/// Where a backward pass's cotangents come from and where its gradients go
/// (its initial states as [`PassIo`]'s).
#[derive(Clone, Copy)]
pub(super) enum BackwardIo<'a> {
    /// The host: each output's cotangents uploaded unless `upload_douts` is off
    /// (those in the workspace are used); the gradients read back and summed on
    /// the host when `read_gradients` (else they stay on the device).
    Host { data: &'a BoundData, douts: &'a [Vec<f32>], upload_douts: bool, read_gradients: bool },
    /// An exchange: the cotangents copied from it, the gradients assembled
    /// into it on the device; when `ordered` (by the exchange's shared
    /// timeline), the pass is submitted and not waited for (nor timed).
    Exchange { exchange: &'a Exchange, ordered: bool },
}

impl<'a> BackwardIo<'a> {
    /// The host's data and cotangents: cotangents up, gradients back.
    fn host(data: &'a BoundData, douts: &'a [Vec<f32>]) -> BackwardIo<'a> {
        BackwardIo::Host { data, douts, upload_douts: true, read_gradients: true }
    }
}

/// What the backward of one pass reads from its run.
#[derive(Clone, Copy)]
pub(super) struct PassContext<'a> {
    pub(super) pass: &'a Pass,
    pub(super) adjoint: &'a AdjointKernels,
    pub(super) scan: bool,
    pub(super) kernel: &'a Arc<Kernel>,
}
