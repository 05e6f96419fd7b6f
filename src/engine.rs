//! The embedded API: compile a cell at run time and run it forward.
//!
//! An [`Engine`] owns a backend (a GPU device, or the CPU). [`Engine::compile`]
//! turns source text into a [`CompiledCell`] (checked and derived; no device work
//! yet). [`CompiledCell::forward`] binds a batch of data to it (every tensor's
//! name and shape checked, the dims inferred), compiles kernels for those sizes
//! once (cached), and runs. A [`Forward`] holds the named outputs and the report.
//! [`CompiledCell::backward`] runs forward and back: a [`Backward`] adds the
//! gradients of `sum(dout * output)` with respect to every parameter, input and
//! initial state.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use rnnc_compiler::check::DimSizes;
use rnnc_compiler::{Derived, derive_cell};
use rnnc_runtime::data::{BoundData, DataError, ExchangeLayout, Gradients, Tensor};
use rnnc_runtime::gpu::{Exchange, Gpu, GpuCell, GpuError, TimelinePoints};
use rnnc_runtime::{ForwardReport, Method, NewtonSettings};

use crate::Error as CompileError;

/// Where cells run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The best GPU adapter, or the CPU when there is none (the engine then says
    /// why in [`Engine::notice`]); on a GPU, a cell its back end cannot run
    /// runs on the CPU (the report's `backend_reason` says why).
    Auto,
    /// A GPU, through wgpu.
    Gpu,
    /// The CPU, through cranelift.
    Cpu,
}

/// Why a cell could not be compiled or run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The source has errors (render them with [`crate::render_errors`]).
    #[error("the cell does not compile ({} error{})", .0.len(), if .0.len() == 1 { "" } else { "s" })]
    Compile(Vec<CompileError>),
    /// The source defines no cell of that name, or several cells and none was chosen.
    #[error("{0}")]
    NoSuchCell(String),
    /// The data does not fit the cell.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The GPU failed or is missing.
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// The CPU backend failed.
    #[error("{0}")]
    Cpu(String),
    /// A cell compiled on one engine was run on another.
    #[error("this cell's kernels were compiled for another engine; compile it again on this one")]
    WrongEngine,
    /// Tensors on the device ([`DeviceExchange`]) need a GPU engine, and a
    /// cell that runs on its GPU.
    #[error(
        "an exchange of tensors on the device needs a GPU engine and a cell its GPU back end runs; this one runs \
         on the CPU"
    )]
    NeedsGpu,
    /// Sequence parallel solving cannot run this cell (`crate::parallel`).
    #[error("{0}")]
    NotSliceable(String),
    /// The transport between the ranks of a sequence failed (`crate::parallel`).
    #[error("the neighbours' transport failed: {0}")]
    Transport(String),
}

enum Device {
    Gpu(Box<Gpu>),
    Cpu,
}

/// A backend ready to run cells.
pub struct Engine {
    device: Device,
    notice: Option<String>,
    /// Opened with [`Backend::Auto`]: cells the GPU cannot run go to the CPU.
    auto: bool,
}

impl Engine {
    /// An engine on `backend`; for the GPU, the adapter `adapter` picks (an index
    /// or part of a name; `None`: `RNNC_ADAPTER`, else the best). With
    /// [`Backend::Auto`], a machine without a usable GPU adapter gets the CPU, and
    /// [`Engine::notice`] says so.
    pub fn new(backend: Backend, adapter: Option<&str>) -> Result<Engine, RunError> {
        let (device, notice) = match backend {
            Backend::Gpu => (Device::Gpu(Box::new(Gpu::open(adapter)?)), None),
            Backend::Cpu => (Device::Cpu, None),
            Backend::Auto => match Gpu::open(adapter) {
                Ok(gpu) => (Device::Gpu(Box::new(gpu)), None),
                Err(e @ (GpuError::NoAdapter | GpuError::RequestDevice { .. })) => {
                    (Device::Cpu, Some(format!("no usable GPU ({}); running on the CPU", first_clause(&e))))
                }
                Err(e) => return Err(e.into()),
            },
        };
        Ok(Engine { device, notice, auto: backend == Backend::Auto })
    }

    /// Why an engine asked for with [`Backend::Auto`] runs on the CPU, if it does.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// How many device buffers the engine's GPU has created so far (`None` on
    /// the CPU): repeated calls of the same shape create none.
    pub fn device_allocations(&self) -> Option<u64> {
        match &self.device {
            Device::Gpu(gpu) => Some(gpu.allocations()),
            Device::Cpu => None,
        }
    }

    /// The GPU, or [`RunError::NeedsGpu`].
    fn gpu(&self) -> Result<&Gpu, RunError> {
        match &self.device {
            Device::Gpu(gpu) => Ok(gpu),
            Device::Cpu => Err(RunError::NeedsGpu),
        }
    }

    /// The GPU's UUID (where it is a Vulkan device), which CUDA's
    /// `cuDeviceGetUuid` gives for the same GPU.
    pub fn device_uuid(&self) -> Option<[u8; 16]> {
        self.gpu().ok().and_then(Gpu::device_uuid)
    }

    /// The backend cells run on.
    pub fn backend(&self) -> Backend {
        match self.device {
            Device::Gpu(_) => Backend::Gpu,
            Device::Cpu => Backend::Cpu,
        }
    }

    /// The device cells run on, for reports.
    pub fn device(&self) -> String {
        match &self.device {
            Device::Gpu(gpu) => gpu.describe(),
            Device::Cpu => "CPU".to_owned(),
        }
    }

    /// Checks and derives the cell `cell` (or the only one) of `source`.
    pub fn compile(&self, source: &str, cell: Option<&str>) -> Result<CompiledCell, RunError> {
        let cells = rnnc_compiler::check_source(source).map_err(RunError::Compile)?;
        let names = || cells.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
        let chosen = match cell {
            Some(name) => cells
                .iter()
                .find(|c| c.name == name)
                .ok_or_else(|| RunError::NoSuchCell(format!("no cell `{name}` (the cells: {})", names())))?,
            None if cells.len() == 1 => &cells[0],
            None => return Err(RunError::NoSuchCell(format!("several cells ({}); choose one", names()))),
        };
        let derived = derive_cell(chosen).map_err(|e| RunError::Compile(vec![e]))?;
        Ok(CompiledCell { derived, kernels: Mutex::new(HashMap::new()) })
    }
}

/// The first clause of an error's message (before a `;`), for one-line notices.
fn first_clause(error: &GpuError) -> String {
    let text = error.to_string();
    text.split(';').next().unwrap_or(&text).trim().to_owned()
}

enum Kernels {
    Gpu(Box<GpuCell>),
    /// The CPU's kernels: on a CPU engine (no reason), or on a GPU engine
    /// opened with [`Backend::Auto`] for a cell its GPU cannot run (why).
    Cpu(Box<rnnc_runtime::cpu::CpuCell>, Option<String>),
}

impl Kernels {
    /// The CPU's kernels for `derived` at `dims`.
    fn cpu(derived: &Derived, dims: &DimSizes, why: Option<String>) -> Result<Kernels, RunError> {
        let cell = rnnc_runtime::cpu::CpuCell::compile(derived, dims).map_err(|e| RunError::Cpu(e.to_string()))?;
        Ok(Kernels::Cpu(Box::new(cell), why))
    }

    /// Says in `report` why it ran on the CPU, when these kernels were a GPU
    /// engine's fallback.
    fn explain(&self, report: &mut ForwardReport) {
        if let Kernels::Cpu(_, Some(why)) = self {
            report.backend_reason = Some(why.clone());
        }
    }
}

/// A checked and derived cell; kernels are compiled per set of sizes on first use,
/// for the engine that first runs it.
pub struct CompiledCell {
    derived: Derived,
    kernels: Mutex<HashMap<Vec<u64>, std::sync::Arc<Kernels>>>,
}

/// What a forward pass gives: every output by name (`[B, T, size]`) and the report.
#[derive(Debug)]
pub struct Forward {
    /// The outputs, in the cell's order.
    pub outputs: Vec<(String, Tensor)>,
    /// What the solver did.
    pub report: ForwardReport,
}

/// What a forward pass keeps for the backward pass that follows it
/// ([`CompiledCell::forward_tape`]).
pub struct Tape {
    inner: TapeInner,
    /// The kernels the forward ran (a backward pass on other kernels is refused).
    kernels: std::sync::Arc<Kernels>,
    /// The forward's report (`None` for a forward ordered by a timeline, whose
    /// report its exchange gives: [`DeviceExchange::take_report`]).
    report: Option<ForwardReport>,
    settings: NewtonSettings,
}

/// The report a backward pass starts from: the tape's, else its exchange's.
fn forward_report_of(report: Option<ForwardReport>) -> Result<ForwardReport, RunError> {
    report.ok_or_else(|| {
        RunError::Gpu(GpuError::Tape(
            "the forward that made this tape was ordered by a timeline: its report comes from the exchange".into(),
        ))
    })
}

enum TapeInner {
    Gpu(rnnc_runtime::gpu::GpuTape),
    Cpu(Box<rnnc_runtime::cpu::CpuTape>),
}

/// A cell's tensors for one batch size and sequence length in one buffer on
/// the GPU ([`CompiledCell::exchange`]): every parameter, input, initial state,
/// output, the outputs' cotangents and every gradient at the regions of its
/// [`ExchangeLayout`], read and written in place by another API on the same
/// GPU (its memory exported as a file descriptor), so that a call moves no
/// tensor through the host.
pub struct DeviceExchange {
    inner: Exchange,
    /// The kernels it was made for.
    kernels: std::sync::Arc<Kernels>,
}

impl DeviceExchange {
    /// Where each tensor is.
    pub fn layout(&self) -> &ExchangeLayout {
        self.inner.layout()
    }

    /// The runtime's exchange (its exported memory, size).
    pub fn inner(&self) -> &Exchange {
        &self.inner
    }

    /// Writes `values` (all of it, C order) into region `name` from the host.
    pub fn write(&self, engine: &Engine, name: &str, values: &[f32]) -> Result<(), RunError> {
        Ok(self.inner.write(engine.gpu()?, name, values)?)
    }

    /// Reads region `name` back to the host.
    pub fn read(&self, engine: &Engine, name: &str) -> Result<Vec<f32>, RunError> {
        Ok(self.inner.read(engine.gpu()?, name)?)
    }

    /// The report of the last [`CompiledCell::forward_exchange_after`] through
    /// it (waiting for its work if it is not done), once.
    pub fn take_report(&self, engine: &Engine) -> Result<Option<ForwardReport>, RunError> {
        Ok(self.inner.take_report(engine.gpu()?)?)
    }

    /// An ordered call with no work (`Exchange::handoff`): what ordering by
    /// the shared timeline alone costs.
    pub fn handoff(&self, engine: &Engine, points: TimelinePoints) -> Result<(), RunError> {
        Ok(self.inner.handoff(engine.gpu()?, points)?)
    }
}

/// What a backward pass gives: the forward's outputs, the gradients, and the
/// report (with the backward's time in `backward_ms`).
#[derive(Debug)]
pub struct Backward {
    /// The outputs, in the cell's order (as [`Forward::outputs`]).
    pub outputs: Vec<(String, Tensor)>,
    /// The gradients of `sum over outputs of sum(dout * output)`.
    pub gradients: Gradients,
    /// What the solvers did.
    pub report: ForwardReport,
}

/// How to run a forward pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunOptions {
    /// Newton, sequential, or chosen by the backend's cost model.
    pub method: Method,
    /// Newton's stopping test and iteration cap.
    pub newton: NewtonSettings,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { method: Method::Auto, newton: NewtonSettings::default() }
    }
}

impl CompiledCell {
    /// What the compiler derived.
    pub fn derived(&self) -> &Derived {
        &self.derived
    }

    /// Binds data to the cell: parameters by name, inputs `[B, T, D]` by name,
    /// initial states `[B, H]` by name (zero when absent). Every name, shape and value
    /// is checked; the dims are inferred.
    pub fn bind(
        &self,
        params: BTreeMap<String, Tensor>,
        inputs: Vec<(String, Tensor)>,
        inits: Vec<(String, Tensor)>,
    ) -> Result<BoundData, RunError> {
        Ok(BoundData::bind(&self.derived.cell, params, inputs, inits)?)
    }

    fn kernels(&self, engine: &Engine, dims: &DimSizes) -> Result<std::sync::Arc<Kernels>, RunError> {
        let key: Vec<u64> = self.derived.cell.dims.handles().map(|d| dims.dim(d)).collect();
        let mut cache = self.kernels.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(kernels) = cache.get(&key) {
            return Ok(kernels.clone());
        }
        let kernels = std::sync::Arc::new(match &engine.device {
            Device::Gpu(gpu) => match GpuCell::compile(gpu, &self.derived, dims) {
                Ok(cell) => Kernels::Gpu(Box::new(cell)),
                Err(GpuError::Unsupported(error)) if engine.auto => {
                    let why = format!("{}; ran on the CPU instead (`--backend auto`)", error.kind);
                    Kernels::cpu(&self.derived, dims, Some(why))?
                }
                Err(error) => return Err(error.into()),
            },
            Device::Cpu => Kernels::cpu(&self.derived, dims, None)?,
        });
        cache.insert(key, kernels.clone());
        Ok(kernels)
    }

    /// Runs the cell forward over bound data on `engine`.
    pub fn forward(&self, engine: &Engine, data: &BoundData, options: &RunOptions) -> Result<Forward, RunError> {
        let kernels = self.kernels(engine, data.dims())?;
        let (buffers, mut report) = match (&*kernels, &engine.device) {
            (Kernels::Gpu(cell), Device::Gpu(gpu)) => cell.forward(gpu, data, options.method, &options.newton)?,
            (Kernels::Cpu(cell, _), _) => {
                cell.forward(data, options.method, &options.newton).map_err(|e| RunError::Cpu(e.to_string()))?
            }
            _ => return Err(RunError::WrongEngine),
        };
        kernels.explain(&mut report);
        let outputs = data.output_tensors(&self.derived.cell, buffers)?;
        Ok(Forward { outputs, report })
    }

    /// Runs the cell forward over bound data on `engine` leaving the outputs on
    /// the device: only the report comes back. For timing the device pipeline as
    /// a training loop with device-resident data runs it (`rnnc bench
    /// --resident`). With `reuse_inputs`, the inputs the previous call on this
    /// cell uploaded stay in place if they have `data`'s shape: the caller
    /// promises they are `data`'s. On the CPU this is a forward whose outputs are
    /// dropped.
    pub fn forward_on_device(
        &self,
        engine: &Engine,
        data: &BoundData,
        options: &RunOptions,
        reuse_inputs: bool,
    ) -> Result<ForwardReport, RunError> {
        let kernels = self.kernels(engine, data.dims())?;
        match (&*kernels, &engine.device) {
            (Kernels::Gpu(cell), Device::Gpu(gpu)) => {
                Ok(cell.forward_on_device(gpu, data, options.method, &options.newton, reuse_inputs)?)
            }
            (Kernels::Cpu(..), _) => Ok(self.forward(engine, data, options)?.report),
            _ => Err(RunError::WrongEngine),
        }
    }

    /// Runs the cell forward over bound data on `engine`, keeping what a
    /// backward pass needs: the forward and the [`Tape`] to give
    /// [`CompiledCell::backward_tape`] (on the GPU the tape holds the forward's
    /// states on the device, so forward + backward costs one forward).
    pub fn forward_tape(
        &self,
        engine: &Engine,
        data: &BoundData,
        options: &RunOptions,
    ) -> Result<(Forward, Tape), RunError> {
        let kernels = self.kernels(engine, data.dims())?;
        let (buffers, mut report, tape) = match (&*kernels, &engine.device) {
            (Kernels::Gpu(cell), Device::Gpu(gpu)) => {
                let (outputs, report, tape) = cell.forward_tape(gpu, data, options.method, &options.newton)?;
                (outputs, report, TapeInner::Gpu(tape))
            }
            (Kernels::Cpu(cell, _), _) => {
                let (outputs, report, tape) = cell
                    .forward_tape(data, options.method, &options.newton)
                    .map_err(|e| RunError::Cpu(e.to_string()))?;
                (outputs, report, TapeInner::Cpu(Box::new(tape)))
            }
            _ => return Err(RunError::WrongEngine),
        };
        kernels.explain(&mut report);
        let outputs = data.output_tensors(&self.derived.cell, buffers)?;
        let tape = Tape { inner: tape, kernels, report: Some(report.clone()), settings: options.newton };
        Ok((Forward { outputs, report }, tape))
    }

    /// The backward pass of the forward pass that made `tape`, over the same
    /// `data`: the gradients of `sum over outputs o of sum(dout_o * o)` (`douts`
    /// as in [`CompiledCell::backward`]) and the forward's report with the
    /// backward's times.
    pub fn backward_tape(
        &self,
        engine: &Engine,
        data: &BoundData,
        tape: Tape,
        douts: Vec<(String, Tensor)>,
    ) -> Result<(Gradients, ForwardReport), RunError> {
        let cell = &self.derived.cell;
        let douts = data.bind_douts(cell, douts)?;
        let mut report = forward_report_of(tape.report)?;
        let gradients = match (tape.inner, &*tape.kernels, &engine.device) {
            (TapeInner::Gpu(inner), Kernels::Gpu(compiled), Device::Gpu(gpu)) => {
                let (gradients, times) = compiled.backward_tape(gpu, data, &douts, inner, &tape.settings)?;
                times.add_to(&mut report);
                gradients
            }
            (TapeInner::Cpu(inner), Kernels::Cpu(compiled, _), _) => {
                let (gradients, ms) =
                    compiled.backward_tape(data, &douts, *inner).map_err(|e| RunError::Cpu(e.to_string()))?;
                report.backward_ms = Some(ms);
                report.wall_ms += ms;
                gradients
            }
            _ => return Err(RunError::WrongEngine),
        };
        Ok((Gradients::new(cell, data, gradients)?, report))
    }

    /// Runs the cell forward and backward over bound data on `engine` leaving
    /// every tensor on the device: only the report (with the backward's times)
    /// comes back. For timing the device pipeline as a training step with
    /// device-resident tensors runs it (`rnnc bench --backward --resident`).
    /// With `reuse_data`, the inputs and cotangents the previous call on this
    /// cell uploaded stay in place if they have `data`'s shape: the caller
    /// promises they are `data`'s and `douts`. On the CPU this is a backward
    /// whose gradients are dropped.
    pub fn backward_on_device(
        &self,
        engine: &Engine,
        data: &BoundData,
        douts: &[(String, Tensor)],
        options: &RunOptions,
        reuse_data: bool,
    ) -> Result<ForwardReport, RunError> {
        let kernels = self.kernels(engine, data.dims())?;
        match (&*kernels, &engine.device) {
            (Kernels::Gpu(cell), Device::Gpu(gpu)) => {
                // Bound (copied) only when they are to be uploaded.
                let douts = if reuse_data && cell.holds_douts(data) {
                    None
                } else {
                    Some(data.bind_douts(&self.derived.cell, douts.to_vec())?)
                };
                Ok(cell.backward_on_device(gpu, data, douts.as_deref(), options.method, &options.newton)?)
            }
            (Kernels::Cpu(..), _) => Ok(self.backward(engine, data, douts.to_vec(), options)?.report),
            _ => Err(RunError::WrongEngine),
        }
    }

    /// An exchange on `engine`'s GPU for this cell with `dims` bound, `batch`
    /// sequences of `steps` steps; its memory exported (for CUDA) when
    /// `export`. The kernels for `dims` are compiled now if they were not.
    pub fn exchange(
        &self,
        engine: &Engine,
        dims: &DimSizes,
        batch: usize,
        steps: usize,
        export: bool,
    ) -> Result<DeviceExchange, RunError> {
        let layout = ExchangeLayout::new(&self.derived.cell, dims, batch, steps)?;
        let kernels = self.kernels(engine, dims)?;
        match (&*kernels, &engine.device) {
            (Kernels::Gpu(cell), Device::Gpu(gpu)) => {
                let inner = cell.exchange(gpu, layout, export)?;
                Ok(DeviceExchange { inner, kernels })
            }
            (Kernels::Cpu(..), _) => Err(RunError::NeedsGpu),
            _ => Err(RunError::WrongEngine),
        }
    }

    /// Runs the cell forward over the tensors in `exchange`, writing its
    /// outputs there (only the report comes back); with `keep`, also the tape
    /// for [`CompiledCell::backward_exchange`].
    pub fn forward_exchange(
        &self,
        engine: &Engine,
        exchange: &DeviceExchange,
        options: &RunOptions,
        keep: bool,
    ) -> Result<(ForwardReport, Option<Tape>), RunError> {
        match (&*exchange.kernels, &engine.device) {
            (Kernels::Gpu(cell), Device::Gpu(gpu)) => {
                let (report, tape) =
                    cell.forward_exchange(gpu, &exchange.inner, options.method, &options.newton, keep)?;
                let tape = tape.map(|inner| Tape {
                    inner: TapeInner::Gpu(inner),
                    kernels: exchange.kernels.clone(),
                    report: Some(report.clone()),
                    settings: options.newton,
                });
                Ok((report, tape))
            }
            _ => Err(RunError::WrongEngine),
        }
    }

    /// [`CompiledCell::forward_exchange`] ordered on the device by `points`
    /// on the exchange's shared timeline instead of by the host (for another
    /// API's stream that signals `points.wait` once the exchange's inputs are
    /// written and waits for `points.signal` before it reads the outputs):
    /// returns once the work is submitted. The report, untimed, comes from
    /// [`DeviceExchange::take_report`].
    pub fn forward_exchange_after(
        &self,
        engine: &Engine,
        exchange: &DeviceExchange,
        options: &RunOptions,
        keep: bool,
        points: TimelinePoints,
    ) -> Result<Option<Tape>, RunError> {
        match (&*exchange.kernels, &engine.device) {
            (Kernels::Gpu(cell), Device::Gpu(gpu)) => {
                let tape =
                    cell.forward_exchange_after(gpu, &exchange.inner, options.method, &options.newton, keep, points)?;
                Ok(tape.map(|inner| Tape {
                    inner: TapeInner::Gpu(inner),
                    kernels: exchange.kernels.clone(),
                    report: None,
                    settings: options.newton,
                }))
            }
            _ => Err(RunError::WrongEngine),
        }
    }

    /// [`CompiledCell::backward_exchange`] ordered on the device by `points`
    /// (as [`CompiledCell::forward_exchange_after`]): returns once the work is
    /// submitted, with no report.
    pub fn backward_exchange_after(
        &self,
        engine: &Engine,
        exchange: &DeviceExchange,
        tape: Tape,
        points: TimelinePoints,
    ) -> Result<(), RunError> {
        if !std::sync::Arc::ptr_eq(&tape.kernels, &exchange.kernels) {
            return Err(RunError::WrongEngine);
        }
        match (tape.inner, &*exchange.kernels, &engine.device) {
            (TapeInner::Gpu(inner), Kernels::Gpu(cell), Device::Gpu(gpu)) => {
                Ok(cell.backward_exchange_after(gpu, &exchange.inner, inner, points)?)
            }
            _ => Err(RunError::WrongEngine),
        }
    }

    /// The backward pass of the forward through `exchange` that made `tape`:
    /// the cotangents read from the exchange's `dout.*` regions and every
    /// gradient written to its `grad.*` regions; returns the forward's report
    /// with the backward's times.
    pub fn backward_exchange(
        &self,
        engine: &Engine,
        exchange: &DeviceExchange,
        tape: Tape,
    ) -> Result<ForwardReport, RunError> {
        if !std::sync::Arc::ptr_eq(&tape.kernels, &exchange.kernels) {
            return Err(RunError::WrongEngine);
        }
        match (tape.inner, &*exchange.kernels, &engine.device) {
            (TapeInner::Gpu(inner), Kernels::Gpu(cell), Device::Gpu(gpu)) => {
                let mut report = match tape.report {
                    Some(report) => report,
                    None => forward_report_of(exchange.inner.take_report(gpu)?)?,
                };
                let times = cell.backward_exchange(gpu, &exchange.inner, inner)?;
                times.add_to(&mut report);
                Ok(report)
            }
            _ => Err(RunError::WrongEngine),
        }
    }

    /// Runs the cell forward over bound data on `engine`, then backward: the
    /// gradients of `sum over outputs o of sum(dout_o * o)` with respect to every
    /// parameter, input and initial state. `douts` names each output's cotangent,
    /// `[B, T, size]`; an output not named has a zero cotangent. The forward runs
    /// by `options` (keeping every state); Newton's forward is followed by the
    /// reverse scan, the sequential one by the sequential backward.
    pub fn backward(
        &self,
        engine: &Engine,
        data: &BoundData,
        douts: Vec<(String, Tensor)>,
        options: &RunOptions,
    ) -> Result<Backward, RunError> {
        let (forward, tape) = self.forward_tape(engine, data, options)?;
        let (gradients, report) = self.backward_tape(engine, data, tape, douts)?;
        let outputs = forward.outputs;
        Ok(Backward { outputs, gradients, report })
    }
}
