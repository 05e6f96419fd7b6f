//! Calls whose tensors stay on the device: an [`Exchange`] is one buffer
//! holding a call's parameters, inputs, initial states, outputs, the outputs'
//! cotangents and every gradient, at the regions of its
//! [`ExchangeLayout`], which another API on the same GPU reads and writes in
//! place (its memory exported to CUDA: `interop.rs`). A forward through it
//! reads the parameters, inputs and initial states from it on the device and
//! writes its outputs to it; the backward reads the cotangents from it and
//! assembles every gradient into it (`assembly.rs`). The inputs, outputs and
//! cotangents are bound in place where their regions lie as the kernels'
//! buffers hold them ([`Exchange::bind_in_place`]), else copied. Nothing
//! crosses the host but the settings and the statistics.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use rnnc_compiler::backend::wgsl::{Buffer, GatherTable, gather_text};

use super::backward::{BackwardIo, BackwardTimes, PassContext};
use super::cell::{GpuCell, GpuTape, ParamSource};
use super::deferred::DeferredReport;
use super::device::{Gpu, GpuError};
use super::interop::ExportedMemory;
use super::kernel::{Dispatch, Kernel, Recorder};
use super::memory::GpuBuffer;
use super::pass::PassIo;
use super::timeline::{SharedTimeline, TimelinePoints};
use super::workspace::{PASS_SLOTS, Slot, Workspace};
use crate::data::{ExchangeLayout, Region};
use crate::solve::{ForwardReport, Method, NewtonSettings};

/// One buffer of a cell's tensors on the device, laid out by an [`ExchangeLayout`].
pub struct Exchange {
    buffer: GpuBuffer,
    exported: Option<ExportedMemory>,
    layout: ExchangeLayout,
    /// The cell it was made for.
    cell: u64,
    /// Where a `scalar` parameter's one word is repeated to the length the
    /// kernels read (none when the cell has no such parameter).
    expansion: Option<Gather>,
    /// The parameters' gradient sums, per backward kernel (`scan` or not),
    /// planned on the first backward pass that needs them.
    pub(super) gradient_sums: Mutex<HashMap<bool, Arc<Gather>>>,
    /// Forward passes run through it so far: a tape names the one that made
    /// it, whose tensors the exchange must still hold for the backward pass.
    forwards: AtomicU64,
    /// The timeline semaphore that orders calls with another API's work (an
    /// exported exchange on a device that shares semaphores).
    timeline: Option<SharedTimeline>,
    /// The report of the last forward that nothing waited for.
    pub(super) deferred: DeferredReport,
    /// The value the current ordered call signals with its pass's submission
    /// ([`Exchange::stage_signal`]).
    signal: Mutex<Option<u64>>,
    /// The workspace slots its regions stand for in place, made on first use
    /// ([`Exchange::bind_in_place`]).
    views: Mutex<HashMap<Slot, GpuBuffer>>,
}

/// A planned gathered sum on the device: its table and its record, and the
/// word ranges of its source and destination buffers that its indices count
/// from (`None`: the whole buffer).
pub(super) struct Gather {
    table: GpuBuffer,
    sizes: GpuBuffer,
    grid: [u32; 3],
    src: Option<(u64, u64)>,
    dst: Option<(u64, u64)>,
}

impl Gather {
    /// Uploads `table`, to be added (`accumulate`) or written, its indices
    /// counting from the ranges `src` and `dst` (words `(offset, len)`).
    pub(super) fn upload(
        gpu: &Gpu,
        table: &GatherTable,
        accumulate: bool,
        src: Option<(u64, u64)>,
        dst: Option<(u64, u64)>,
    ) -> Result<Gather, GpuError> {
        let mut sizes = table.sizes;
        sizes.accumulate = u32::from(accumulate);
        Ok(Gather {
            table: gpu.upload("gather table", &table.words)?,
            sizes: gpu.upload("gather sizes", &sizes.words())?,
            grid: table.grid(gpu.max_workgroups_per_dimension()),
            src,
            dst,
        })
    }

    /// Its dispatch, summing words of `src` into `dst`.
    pub(super) fn dispatch(
        &self,
        gpu: &Gpu,
        kernel: &Arc<Kernel>,
        src: &GpuBuffer,
        dst: &GpuBuffer,
    ) -> Result<Dispatch, GpuError> {
        fn bound(buffer: &GpuBuffer, range: Option<(u64, u64)>) -> wgpu::BufferBinding<'_> {
            match range {
                Some((offset, len)) => buffer.range(offset, len),
                None => buffer.whole(),
            }
        }
        let entries = [self.sizes.whole(), self.table.whole(), bound(src, self.src), bound(dst, self.dst)];
        let bind_group = kernel.bind_group(gpu, &entries)?;
        Ok(Dispatch { kernel: Arc::clone(kernel), bind_group, grid: self.grid })
    }
}

/// Marks parameters copied from an exchange, so that the next call with host
/// parameters uploads them again (they count as changed).
static EXCHANGE_PARAMS: AtomicU64 = AtomicU64::new(0);

impl Exchange {
    /// Where each tensor is.
    pub fn layout(&self) -> &ExchangeLayout {
        &self.layout
    }

    /// The exported memory, when the exchange was made for another API.
    pub fn exported(&self) -> Option<&ExportedMemory> {
        self.exported.as_ref()
    }

    /// The buffer's size in bytes.
    pub fn bytes(&self) -> u64 {
        self.buffer.len() as u64 * 4
    }

    fn region(&self, name: &str) -> Result<&Region, GpuError> {
        self.layout.region(name).ok_or_else(|| {
            let names: Vec<&str> = self.layout.regions.iter().map(|r| r.name.as_str()).collect();
            GpuError::Device(format!("the exchange has no region `{name}`; its regions are {}", names.join(", ")))
        })
    }

    /// Writes `values` (the whole region) into region `name` from the host.
    pub fn write(&self, gpu: &Gpu, name: &str, values: &[f32]) -> Result<(), GpuError> {
        let region = self.region(name)?;
        if values.len() != region.len() {
            return Err(GpuError::Device(format!(
                "region `{name}` holds {} values ({:?}); {} were given",
                region.len(),
                region.shape,
                values.len()
            )));
        }
        gpu.write(&self.buffer, region.offset, values)
    }

    /// The timeline semaphore shared with another API, if the exchange has one
    /// (exported, on a device that shares semaphores): calls given
    /// [`TimelinePoints`] wait for and signal its values.
    pub fn timeline(&self) -> Option<&SharedTimeline> {
        self.timeline.as_ref()
    }

    /// The report of the last forward given [`TimelinePoints`] (waiting for
    /// its work if it is not done), once; `None` when there is none.
    pub fn take_report(&self, gpu: &Gpu) -> Result<Option<ForwardReport>, GpuError> {
        self.deferred.take(gpu)
    }

    /// Runs `call` ordered by `points` on the exchange's timeline: the
    /// call's submission waits for `points.wait` and signals `points.signal`
    /// (`stage_signal`), also when the call fails (the other API must not
    /// wait forever).
    fn ordered<R>(
        &self,
        gpu: &Gpu,
        points: TimelinePoints,
        call: impl FnOnce() -> Result<R, GpuError>,
    ) -> Result<R, GpuError> {
        let timeline = self.timeline.as_ref().ok_or_else(|| {
            GpuError::Device(
                "this exchange has no shared timeline (export it on a device that shares semaphores)".into(),
            )
        })?;
        if points.signal <= points.wait {
            return Err(GpuError::Device(format!(
                "a call must signal a later value than it waits for ({} after {})",
                points.signal, points.wait
            )));
        }
        *self.signal.lock().unwrap_or_else(PoisonError::into_inner) = Some(points.signal);
        gpu.wait_on_next_submission(timeline, points.wait)?;
        let result = call();
        // A call that failed before its pass's submission signals here.
        if let Some(value) = self.signal.lock().unwrap_or_else(PoisonError::into_inner).take() {
            gpu.signal_after_submitted(timeline, value)?;
        }
        result
    }

    /// An ordered call with no work: its (empty) submission waits for
    /// `points.wait` and signals `points.signal`; what ordering alone costs
    /// on a device (docs/PERFORMANCE.md, run 82).
    pub fn handoff(&self, gpu: &Gpu, points: TimelinePoints) -> Result<(), GpuError> {
        self.ordered(gpu, points, || Ok(()))
    }

    /// Stages the current ordered call's signal on the next submission: the
    /// pass's, the call's last (nothing when the call is not ordered).
    pub(super) fn stage_signal(&self, gpu: &Gpu) -> Result<(), GpuError> {
        let value = self.signal.lock().unwrap_or_else(PoisonError::into_inner).take();
        match (value, &self.timeline) {
            (Some(value), Some(timeline)) => gpu.signal_on_next_submission(timeline, value),
            _ => Ok(()),
        }
    }

    /// Reads region `name` back to the host (after all submitted work).
    pub fn read(&self, gpu: &Gpu, name: &str) -> Result<Vec<f32>, GpuError> {
        let region = self.region(name)?;
        gpu.read_range(&self.buffer, region.offset, region.len())
    }

    fn shape(&self) -> (usize, usize) {
        (self.layout.batch, self.layout.steps)
    }

    /// The kernels' buffers its calls so far bound in place, by name
    /// (`Douts`, `Inputs`, `Outputs`; [`Exchange::bind_in_place`]).
    pub fn in_place(&self) -> Vec<String> {
        let views = self.views.lock().unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<String> = views.keys().map(|slot| format!("{slot:?}")).collect();
        names.sort();
        names
    }

    /// Makes `slot` of `workspace` a view of the exchange's words where its
    /// tensors, `regions`, lie as the slot holds them (tensor `i` at word
    /// `rows * prefixes[i]`) at one offset that a binding may start at: the
    /// kernels then read and write the exchange in place, and the copies
    /// between the two are dropped ([`super::copy::Copies::plan`]). Elsewhere
    /// (regions padded apart) the slot keeps its own buffer and the copies.
    /// For one call: [`Workspace::detach_views`] drops the view after it.
    /// Whether it did; `RNNC_EXCHANGE_IN_PLACE=0` keeps the copies (a
    /// measurement knob).
    fn bind_in_place(
        &self,
        gpu: &Gpu,
        workspace: &mut Workspace,
        slot: Slot,
        regions: &[Region],
        prefixes: &[u64],
    ) -> bool {
        if std::env::var("RNNC_EXCHANGE_IN_PLACE").is_ok_and(|v| v.trim() == "0") {
            return false;
        }
        let mut views = self.views.lock().unwrap_or_else(PoisonError::into_inner);
        if let Entry::Vacant(entry) = views.entry(slot) {
            let Some(view) = self.view_of(gpu, regions, prefixes) else { return false };
            entry.insert(view);
        }
        workspace.attach(slot, views[&slot].share());
        true
    }

    /// The exchange's words of `regions` as a view, where they lie as a slot
    /// holds its tensors (tensor `i` at word `rows * prefixes[i]`) from an
    /// offset that a binding may start at.
    fn view_of(&self, gpu: &Gpu, regions: &[Region], prefixes: &[u64]) -> Option<GpuBuffer> {
        regions.first()?;
        let rows = (self.layout.batch * self.layout.steps) as u64;
        let (base, len) = group_range(regions);
        let in_order = regions.iter().zip(prefixes).all(|(r, &prefix)| r.offset as u64 == base + rows * prefix);
        let aligned = base.is_multiple_of((gpu.binding_alignment() / 4).max(1));
        (in_order && aligned).then(|| self.buffer.view(base, len as usize))
    }

    fn check_cell(&self, cell: &GpuCell) -> Result<(), GpuError> {
        if self.cell != cell.id() {
            return Err(GpuError::Device("the exchange was made for another compiled cell".into()));
        }
        Ok(())
    }
}

/// The words `(offset, len)` from a group's first region to its last one's
/// end (at least one word: a binding may not be empty).
pub(super) fn group_range(regions: &[Region]) -> (u64, u64) {
    match (regions.first(), regions.last()) {
        (Some(first), Some(last)) => (first.offset as u64, ((last.offset + last.len()) - first.offset).max(1) as u64),
        _ => (0, 1),
    }
}

fn mismatch(what: &str) -> GpuError {
    GpuError::Device(format!("internal: the exchange's layout does not match the cell's plan ({what})"))
}

impl GpuCell {
    /// An exchange of `layout` (made for this cell's dims) on `gpu`, its memory
    /// exported for another API when `export`.
    pub fn exchange(&self, gpu: &Gpu, layout: ExchangeLayout, export: bool) -> Result<Exchange, GpuError> {
        let plan = &self.kernels().plan;
        let (rows, batch) = ((layout.batch * layout.steps) as u64, layout.batch as u64);
        let lengths = |regions: &[Region], sizes: &[u64], per: u64| {
            regions.len() == sizes.len() && regions.iter().zip(sizes).all(|(r, &size)| r.len() as u64 == per * size)
        };
        let param_lens: Vec<u64> = plan.cell.params.iter().map(|slot| slot.len).collect();
        let params_fit = layout.params().len() == param_lens.len()
            && layout.params().iter().zip(&param_lens).all(|(r, &len)| r.len() as u64 == len || r.len() == 1);
        if !params_fit {
            return Err(mismatch("parameters"));
        }
        if !lengths(layout.inputs(), &plan.cell.inputs, rows) || !lengths(layout.inits(), &plan.cell.states, batch) {
            return Err(mismatch("inputs or initial states"));
        }
        if !lengths(layout.outputs(), &plan.cell.outputs, rows) {
            return Err(mismatch("outputs"));
        }
        let fits = self.batch_chunk(gpu, layout.batch, layout.steps);
        if fits < layout.batch {
            return Err(GpuError::Device(format!(
                "an exchange needs its batch in one pass; this device takes {fits} of {} sequences of {} steps \
                 per pass (its largest binding): use batches of at most {fits}",
                layout.batch, layout.steps
            )));
        }
        let (buffer, exported) = if export {
            let (buffer, memory) = gpu.exported_storage("exchange", layout.words)?;
            (buffer, Some(memory))
        } else {
            (gpu.ranged_storage("exchange", layout.words)?, None)
        };
        // A `scalar` parameter's word, repeated to its length in the parameters.
        let params = group_range(layout.params());
        let lists: Vec<(u32, Vec<u32>)> = layout
            .params()
            .iter()
            .zip(&plan.cell.params)
            .filter(|(region, slot)| region.len() == 1 && slot.len > 1)
            .flat_map(|(region, slot)| {
                let from = (region.offset as u64 - params.0) as u32;
                (0..slot.len).map(move |j| ((slot.offset + j) as u32, vec![from]))
            })
            .collect();
        let expansion = if lists.is_empty() {
            None
        } else {
            Some(Gather::upload(gpu, &GatherTable::new(&lists), false, Some(params), None)?)
        };
        let timeline = if export && gpu.shares_semaphores() { Some(gpu.shared_timeline()?) } else { None };
        Ok(Exchange {
            buffer,
            exported,
            layout,
            cell: self.id(),
            expansion,
            gradient_sums: Mutex::default(),
            forwards: AtomicU64::new(0),
            timeline,
            deferred: DeferredReport::default(),
            signal: Mutex::default(),
            views: Mutex::default(),
        })
    }

    /// Records the parameters' copies from `exchange` into the workspace on
    /// the device (the dense launches' stacked matrices too), submitted with
    /// the pass ([`Workspace::defer`]); returns the mark that stands for their
    /// fingerprint.
    pub(super) fn copy_params(
        &self,
        gpu: &Gpu,
        workspace: &mut Workspace,
        exchange: &Exchange,
    ) -> Result<u64, GpuError> {
        let plan = &self.kernels().plan;
        let layout = exchange.layout();
        let source = &exchange.buffer;
        let params = workspace.get(Slot::Params)?;
        let mut recorder = Recorder::new(gpu, "exchange parameters");
        for (region, slot) in layout.params().iter().zip(&plan.cell.params) {
            if region.len() as u64 == slot.len {
                let bytes = slot.len * 4;
                recorder.encoder.copy_buffer_to_buffer(
                    &source.buffer,
                    region.offset as u64 * 4,
                    &params.buffer,
                    slot.offset * 4,
                    bytes,
                );
            }
        }
        for (i, launch) in self.dense_launches() {
            let weights = workspace.get(Slot::Weights(i))?;
            let mut row = 0;
            for product in &launch.products {
                let region = &layout.params()[product.param.index()];
                let bytes = product.rows * launch.depth * 4;
                recorder.encoder.copy_buffer_to_buffer(
                    &source.buffer,
                    region.offset as u64 * 4,
                    &weights.buffer,
                    row * launch.depth * 4,
                    bytes,
                );
                row += product.rows;
            }
        }
        if let Some(expansion) = &exchange.expansion {
            let kernel = gpu.kernel("gather", &gather_text(), "main")?;
            let dispatch = expansion.dispatch(gpu, &kernel, source, params)?;
            recorder.phase("scalar parameters", None, &[dispatch])?;
        }
        // Submitted with the pass, first.
        workspace.defer(recorder.encoder);
        Ok(0xa5a5_0000_0000_0000 ^ EXCHANGE_PARAMS.fetch_add(1, Ordering::Relaxed))
    }

    /// Runs the cell forward over the tensors in `exchange`, writing its
    /// outputs there; with `keep`, also the tape for
    /// [`GpuCell::backward_exchange`]. The batch must fit one pass.
    pub fn forward_exchange(
        &self,
        gpu: &Gpu,
        exchange: &Exchange,
        method: Method,
        settings: &NewtonSettings,
        keep: bool,
    ) -> Result<(ForwardReport, Option<GpuTape>), GpuError> {
        let wall = Instant::now();
        let (stats, run, tape) = self.forward_through(gpu, exchange, method, settings, keep, false)?;
        let mut report = run.report(gpu, &stats);
        report.wall_ms = wall.elapsed().as_secs_f64() * 1e3;
        Ok((report, tape))
    }

    /// [`GpuCell::forward_exchange`] ordered by `points` on the exchange's
    /// timeline ([`Exchange::timeline`]) instead of by the host: it returns
    /// once its work is submitted, and its report, untimed, comes from
    /// [`Exchange::take_report`].
    pub fn forward_exchange_after(
        &self,
        gpu: &Gpu,
        exchange: &Exchange,
        method: Method,
        settings: &NewtonSettings,
        keep: bool,
        points: TimelinePoints,
    ) -> Result<Option<GpuTape>, GpuError> {
        exchange
            .ordered(gpu, points, || self.forward_through(gpu, exchange, method, settings, keep, true))
            .map(|(_, _, tape)| tape)
    }

    fn forward_through(
        &self,
        gpu: &Gpu,
        exchange: &Exchange,
        method: Method,
        settings: &NewtonSettings,
        keep: bool,
        ordered: bool,
    ) -> Result<(super::pass::PassStats, super::cell::Run, Option<GpuTape>), GpuError> {
        settings.validate().map_err(|e| GpuError::Settings(e.to_string()))?;
        exchange.check_cell(self)?;
        let mut workspace = self.workspace();
        workspace.attach(Slot::Exchange, exchange.buffer.share());
        let shape = exchange.shape();
        let plan = &self.kernels().plan;
        let layout = exchange.layout();
        let inputs = exchange.bind_in_place(gpu, &mut workspace, Slot::Inputs, layout.inputs(), &plan.input_prefix);
        // One dispatch may not bind a buffer both to read and to write: the
        // outputs, which the recurrence writes, stand in place only where it
        // reads no input from the exchange.
        if !(inputs && self.kernels().bindings.contains(&Buffer::Inputs)) {
            exchange.bind_in_place(gpu, &mut workspace, Slot::Outputs, layout.outputs(), &plan.output_prefix);
        }
        let solved =
            self.prepare(gpu, &mut workspace, shape, ParamSource::Exchange(exchange), method, keep).and_then(|run| {
                let pass = run.whole_batch(shape, "a forward through an exchange")?;
                let io = PassIo::Exchange { exchange, ordered };
                let (stats, _) = self.solve_pass(gpu, &mut workspace, &run, io, &pass, settings, keep)?;
                let forward = exchange.forwards.fetch_add(1, Ordering::Relaxed) + 1;
                let tape = keep.then(|| GpuTape {
                    cell: self.id(),
                    method: run.method,
                    params: run.params,
                    batch: shape.0,
                    steps: shape.1,
                    exchange: Some((exchange.buffer.id, forward)),
                    buffers: PASS_SLOTS.iter().filter_map(|&slot| workspace.take(slot).map(|b| (slot, b))).collect(),
                });
                // The inputs stay for a later call only in a buffer of the workspace's own.
                workspace.resident_inputs = workspace.get(Slot::Inputs).is_ok_and(|b| !b.is_view()).then_some(shape);
                Ok((stats, run, tape))
            });
        // The views go with the call (the tape took those it needs).
        workspace.detach_views();
        solved
    }

    /// The backward pass of the forward through `exchange` that made `tape`
    /// (the exchange's latest): the cotangents read from the exchange's
    /// `dout.*` regions, every gradient written to its `grad.*` regions;
    /// returns the times. The parameters are the exchange's again where
    /// another call changed those on the device meanwhile. The forward's
    /// inputs are read from the exchange where they were bound in place
    /// ([`Exchange::in_place`]): they must be those of the forward still.
    pub fn backward_exchange(&self, gpu: &Gpu, exchange: &Exchange, tape: GpuTape) -> Result<BackwardTimes, GpuError> {
        self.backward_through(gpu, exchange, tape, false)
    }

    /// [`GpuCell::backward_exchange`] ordered by `points` on the exchange's
    /// timeline instead of by the host: it returns once its work is
    /// submitted, untimed.
    pub fn backward_exchange_after(
        &self,
        gpu: &Gpu,
        exchange: &Exchange,
        tape: GpuTape,
        points: TimelinePoints,
    ) -> Result<(), GpuError> {
        exchange.ordered(gpu, points, || self.backward_through(gpu, exchange, tape, true)).map(drop)
    }

    fn backward_through(
        &self,
        gpu: &Gpu,
        exchange: &Exchange,
        tape: GpuTape,
        ordered: bool,
    ) -> Result<BackwardTimes, GpuError> {
        let wall = Instant::now();
        exchange.check_cell(self)?;
        let shape = exchange.shape();
        let latest = (exchange.buffer.id, exchange.forwards.load(Ordering::Relaxed));
        match tape.exchange {
            Some((id, forward)) if id == latest.0 && tape.cell == self.id() => {
                if forward != latest.1 {
                    return Err(GpuError::Tape(
                        "the exchange has served another forward pass since the one that made this tape".into(),
                    ));
                }
            }
            _ => return Err(GpuError::Tape("the tape was not made by a forward through this exchange".into())),
        }
        if (tape.batch, tape.steps) != shape || !tape.keeps_states() {
            return Err(GpuError::Tape("the tape was not made by a forward through this exchange".into()));
        }
        let adjoint = self.adjoint.as_ref().map_err(|reason| GpuError::Codegen(reason.clone()))?;
        let mut workspace = self.workspace();
        for (slot, buffer) in tape.buffers {
            workspace.put(slot, buffer);
        }
        workspace.attach(Slot::Exchange, exchange.buffer.share());
        let plan = &self.kernels().plan;
        exchange.bind_in_place(gpu, &mut workspace, Slot::Douts, exchange.layout().douts(), &plan.output_prefix);
        let params = if workspace.params_fingerprint == Some(tape.params) {
            ParamSource::Resident
        } else {
            ParamSource::Exchange(exchange)
        };
        let solved = self.prepare(gpu, &mut workspace, shape, params, tape.method, true).and_then(|run| {
            let pass = run.whole_batch(shape, "a backward through an exchange")?;
            let (scan, kernel) = self.adjoint_kernel(gpu, adjoint, run.method)?;
            let context = PassContext { pass: &pass, adjoint, scan, kernel: &kernel };
            let io = BackwardIo::Exchange { exchange, ordered };
            self.backward_pass(gpu, &mut workspace, &context, io)
        });
        // The tape's views and the cotangents' go with the call.
        workspace.detach_views();
        let (_, mut times) = solved?;
        times.wall_ms = wall.elapsed().as_secs_f64() * 1e3;
        Ok(times)
    }
}
