//! `rnnc.Cell` (a compiled cell on an engine) and `rnnc.Tape` (what a forward pass
//! keeps for its backward pass). Every method binds its data first (names, shapes
//! and values checked, with the GIL held only to read the arrays), then runs with
//! the GIL released.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use rnnc::runtime::data::{BoundData, NonFiniteOutputs, NonFiniteTensors};
use rnnc::{CompiledCell, Engine, Gradients, RunOptions, Tensor};

use crate::convert::{array_dict, json_value, run_options, tensors};
use crate::engines::backend_name;
use crate::errors::{Failure, detached};
use crate::exchange::Exchange;
use crate::parallel::Slice;

/// What a `Cell` and the tapes of its forward passes share.
pub struct Compiled {
    pub engine: Arc<Engine>,
    pub cell: CompiledCell,
    /// The source's name in diagnostics (a path, `stdlib:NAME` or `<string>`).
    pub file: String,
    pub text: String,
}

impl Compiled {
    pub fn failure(&self, error: rnnc::RunError) -> Failure {
        Failure::of_run(error, &self.file, &self.text)
    }

    /// Binds the data of one call; `inits` may be absent.
    fn bind(
        &self,
        params: &Bound<'_, PyDict>,
        inputs: &Bound<'_, PyDict>,
        inits: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<BoundData> {
        let params: BTreeMap<String, Tensor> = tensors(Some(params), "parameter")?.into_iter().collect();
        let inputs = tensors(Some(inputs), "input")?;
        let inits = tensors(inits, "initial state")?;
        Ok(self.cell.bind(params, inputs, inits).map_err(|e| self.failure(e))?)
    }
}

/// A compiled cell: checked, derived and bound to an engine (`rnnc.compile`).
/// Kernels are compiled for each set of sizes on first use and kept.
#[pyclass(module = "rnnc", frozen)]
pub struct Cell {
    pub compiled: Arc<Compiled>,
}

/// The gradients as a dict keyed `param.NAME`, `input.NAME`, `init.NAME`.
fn gradient_dict<'py>(py: Python<'py>, gradients: Gradients) -> PyResult<Bound<'py, PyDict>> {
    let Gradients { params, inputs, inits } = gradients;
    let keyed = [("param", params), ("input", inputs), ("init", inits)]
        .into_iter()
        .flat_map(|(prefix, tensors)| tensors.into_iter().map(move |(name, t)| (format!("{prefix}.{name}"), t)));
    array_dict(py, keyed)
}

/// The report of a forward pass as `rnnc run --report` writes it.
pub fn forward_report<'py>(
    py: Python<'py>,
    report: &rnnc::ForwardReport,
    outputs: &NonFiniteOutputs,
    gradients: Option<&Gradients>,
) -> PyResult<Bound<'py, PyAny>> {
    let non_finite_gradients = gradients.map(|g| NonFiniteTensors::of(g.keyed().iter().map(|(k, t)| (k.as_str(), *t))));
    let value = rnnc::report_json(report, outputs, non_finite_gradients.as_ref())
        .map_err(|e| Failure::Device(e.to_string()))?;
    json_value(py, &value)
}

#[pymethods]
impl Cell {
    /// Runs the cell forward: `(outputs, report)`, the outputs a dict name ->
    /// float32 array `[B, T, size]`, the report the dict of `rnnc run --report`.
    #[pyo3(signature = (params, inputs, init=None, method="auto", atol=None, rtol=None, max_iterations=None))]
    #[allow(clippy::too_many_arguments)]
    fn forward<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyDict>,
        inputs: &Bound<'py, PyDict>,
        init: Option<&Bound<'py, PyDict>>,
        method: &str,
        atol: Option<f32>,
        rtol: Option<f32>,
        max_iterations: Option<u32>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let options = run_options(method, atol, rtol, max_iterations)?;
        let compiled = &*self.compiled;
        let data = compiled.bind(params, inputs, init)?;
        let forward =
            detached(py, || compiled.cell.forward(&compiled.engine, &data, &options).map_err(|e| compiled.failure(e)))?;
        let report = forward_report(py, &forward.report, &NonFiniteOutputs::of(&forward.outputs), None)?;
        let outputs = array_dict(py, forward.outputs)?;
        PyTuple::new(py, [outputs.into_any(), report])
    }

    /// Runs the cell forward keeping what the backward pass needs:
    /// `(outputs, report, tape)`; `tape.backward(douts)` gives the gradients
    /// without a second forward pass.
    #[pyo3(signature = (params, inputs, init=None, method="auto", atol=None, rtol=None, max_iterations=None))]
    #[allow(clippy::too_many_arguments)]
    fn forward_tape<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyDict>,
        inputs: &Bound<'py, PyDict>,
        init: Option<&Bound<'py, PyDict>>,
        method: &str,
        atol: Option<f32>,
        rtol: Option<f32>,
        max_iterations: Option<u32>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let options = run_options(method, atol, rtol, max_iterations)?;
        let compiled = &*self.compiled;
        let data = compiled.bind(params, inputs, init)?;
        let (forward, tape) = detached(py, || {
            compiled.cell.forward_tape(&compiled.engine, &data, &options).map_err(|e| compiled.failure(e))
        })?;
        let non_finite = NonFiniteOutputs::of(&forward.outputs);
        let report = forward_report(py, &forward.report, &non_finite, None)?;
        let outputs = array_dict(py, forward.outputs)?;
        let tape = Tape { compiled: self.compiled.clone(), data, non_finite, tape: Mutex::new(Some(tape)) };
        PyTuple::new(py, [outputs.into_any(), report, Bound::new(py, tape)?.into_any()])
    }

    /// Runs the cell forward and back: the gradients of
    /// `sum over outputs o of sum(douts[o] * o)` as a dict keyed `param.NAME`,
    /// `input.NAME`, `init.NAME` (outputs missing from `douts` have zero
    /// cotangents).
    #[pyo3(signature = (params, inputs, douts, init=None, method="auto", atol=None, rtol=None, max_iterations=None))]
    #[allow(clippy::too_many_arguments)]
    fn backward<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyDict>,
        inputs: &Bound<'py, PyDict>,
        douts: &Bound<'py, PyDict>,
        init: Option<&Bound<'py, PyDict>>,
        method: &str,
        atol: Option<f32>,
        rtol: Option<f32>,
        max_iterations: Option<u32>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let options: RunOptions = run_options(method, atol, rtol, max_iterations)?;
        let compiled = &*self.compiled;
        let data = compiled.bind(params, inputs, init)?;
        let douts = tensors(Some(douts), "output cotangent")?;
        let backward = detached(py, || {
            compiled.cell.backward(&compiled.engine, &data, douts, &options).map_err(|e| compiled.failure(e))
        })?;
        gradient_dict(py, backward.gradients)
    }

    /// An `rnnc.Exchange` for this cell with `dims` bound (a dict name ->
    /// size), `batch` sequences of `steps` steps, on the cell's GPU: one buffer
    /// of every tensor of a call; its memory exported for CUDA (`rnnc.cuda`)
    /// when `export`. Raises `rnnc.DeviceError` on the CPU back end or where
    /// the driver cannot export memory.
    #[pyo3(signature = (dims, batch, steps, export=false))]
    fn exchange(
        &self,
        py: Python<'_>,
        dims: BTreeMap<String, u64>,
        batch: usize,
        steps: usize,
        export: bool,
    ) -> PyResult<Exchange> {
        Exchange::new(py, self, &dims, batch, steps, export)
    }

    /// One rank's slice of one sequence solved across ranks in order
    /// (`rnnc.parallel`, which makes `neighbours` over `torch.distributed`):
    /// `inputs` the slice `[B, T_r, ...]`, `init` the sequence's initial states
    /// (read on rank 0), `steps` the first correction's length. Returns an
    /// `rnnc.Slice` (its outputs, `backward`).
    #[pyo3(signature = (params, inputs, neighbours, init=None, steps=64, method="auto", atol=None, rtol=None, max_iterations=None))]
    #[allow(clippy::too_many_arguments)]
    fn forward_slice<'py>(
        &self,
        py: Python<'py>,
        params: &Bound<'py, PyDict>,
        inputs: &Bound<'py, PyDict>,
        neighbours: &Bound<'py, PyAny>,
        init: Option<&Bound<'py, PyDict>>,
        steps: usize,
        method: &str,
        atol: Option<f32>,
        rtol: Option<f32>,
        max_iterations: Option<u32>,
    ) -> PyResult<Slice> {
        let options = run_options(method, atol, rtol, max_iterations)?;
        self.slice_forward(py, params, inputs, init, neighbours, steps, options)
    }

    /// What the compiler derived, as `rnnc inspect --json` prints it; with
    /// `dims` (a dict name -> size), each dim's `size` too and `backends`: how
    /// the GPU and CPU back ends solve the cell at those sizes, or why one
    /// cannot.
    #[pyo3(signature = (dims=None))]
    fn inspect<'py>(&self, py: Python<'py>, dims: Option<BTreeMap<String, u64>>) -> PyResult<Bound<'py, PyAny>> {
        let sizes = match dims {
            Some(dims) => Some(self.bind_dims(&dims)?),
            None => None,
        };
        json_value(py, &rnnc::inspect_json(self.compiled.cell.derived(), sizes.as_ref()))
    }

    /// The shape of every parameter for the sizes `dims` (a dict name -> size
    /// binding every dim), as a dict name -> tuple in declaration order
    /// (`block[H, K]` as `(H/K, K, K)`).
    fn param_shapes<'py>(&self, py: Python<'py>, dims: BTreeMap<String, u64>) -> PyResult<Bound<'py, PyDict>> {
        let sizes = self.bind_dims(&dims)?;
        let cell = &self.compiled.cell.derived().cell;
        let shapes = rnnc::param_shapes(cell, &sizes).map_err(|e| Failure::Data(e.to_string()))?;
        let dict = PyDict::new(py);
        for (name, shape) in shapes {
            dict.set_item(name, PyTuple::new(py, shape)?)?;
        }
        Ok(dict)
    }

    /// The source text the cell was compiled from.
    #[getter]
    fn source(&self) -> &str {
        &self.compiled.text
    }

    /// The cell's name.
    #[getter]
    fn name(&self) -> &str {
        &self.compiled.cell.derived().cell.name
    }

    /// Where the source came from, as diagnostics name it.
    #[getter]
    fn file(&self) -> &str {
        &self.compiled.file
    }

    /// `"gpu"` or `"cpu"`: where the cell runs.
    #[getter]
    fn backend(&self) -> &'static str {
        backend_name(self.compiled.engine.backend())
    }

    /// The device the cell runs on, in words.
    #[getter]
    fn device(&self) -> String {
        self.compiled.engine.device()
    }

    /// The parameters' names, in declaration order.
    #[getter]
    fn params(&self) -> Vec<String> {
        self.compiled.cell.derived().cell.params.values().map(|p| p.name.clone()).collect()
    }

    /// The inputs' names, in declaration order.
    #[getter]
    fn inputs(&self) -> Vec<String> {
        self.compiled.cell.derived().cell.inputs.values().map(|v| v.name.clone()).collect()
    }

    /// The states' names, in declaration order.
    #[getter]
    fn states(&self) -> Vec<String> {
        self.compiled.cell.derived().cell.states.values().map(|v| v.name.clone()).collect()
    }

    /// The outputs' names, in declaration order.
    #[getter]
    fn outputs(&self) -> Vec<String> {
        self.compiled.cell.derived().cell.outputs.values().map(|o| o.name.clone()).collect()
    }

    fn __repr__(&self) -> String {
        format!("<rnnc.Cell {} from {} on {}>", self.name(), self.compiled.file, self.device())
    }
}

impl Cell {
    pub fn bind_dims(&self, dims: &BTreeMap<String, u64>) -> Result<rnnc::compiler::check::DimSizes, Failure> {
        let cell = &self.compiled.cell.derived().cell;
        if let Some(unknown) = dims.keys().find(|name| cell.find_dim(name).is_none()) {
            let known: Vec<&str> = cell.dims.values().map(|d| d.name.as_str()).collect();
            return Err(Failure::Data(format!(
                "cell `{}` has no dim `{unknown}` (its dims: {})",
                cell.name,
                known.join(", ")
            )));
        }
        cell.bind_dims(|name| dims.get(name).copied())
            .map_err(|errors| Failure::Data(rnnc::render_errors(&self.compiled.file, &self.compiled.text, &errors)))
    }
}

/// What a forward pass keeps for its backward pass (`Cell.forward_tape`); used
/// once.
#[pyclass(module = "rnnc", frozen)]
pub struct Tape {
    compiled: Arc<Compiled>,
    data: BoundData,
    /// The forward's non-finite outputs, for the backward's report.
    non_finite: NonFiniteOutputs,
    tape: Mutex<Option<rnnc::Tape>>,
}

#[pymethods]
impl Tape {
    /// The backward pass of the forward pass that made this tape:
    /// `(gradients, report)`, the gradients of `sum over outputs o of
    /// sum(douts[o] * o)` keyed `param.NAME`, `input.NAME`, `init.NAME`, the
    /// report the forward's with the backward's times (`backward_ms`). A tape
    /// serves one backward pass; a second raises `RuntimeError`.
    fn backward<'py>(&self, py: Python<'py>, douts: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyTuple>> {
        let douts = tensors(Some(douts), "output cotangent")?;
        let tape = self.tape.lock().unwrap_or_else(PoisonError::into_inner).take().ok_or_else(|| {
            Failure::State("this tape's backward pass has run already (a tape serves one backward pass)".to_owned())
        })?;
        let (compiled, data) = (&*self.compiled, &self.data);
        let (gradients, report) = detached(py, || {
            compiled.cell.backward_tape(&compiled.engine, data, tape, douts).map_err(|e| compiled.failure(e))
        })?;
        let report = forward_report(py, &report, &self.non_finite, Some(&gradients))?;
        PyTuple::new(py, [gradient_dict(py, gradients)?.into_any(), report])
    }

    /// Whether the backward pass has not run yet.
    #[getter]
    fn unused(&self) -> bool {
        self.tape.lock().unwrap_or_else(PoisonError::into_inner).is_some()
    }
}
