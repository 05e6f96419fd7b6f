//! Sequence parallel solving from Python (`rnnc.parallel`): `Cell.forward_slice`
//! runs `rnnc::parallel`'s forward of one rank's slice, with neighbours that a
//! Python object carries (`send_next`, `recv_prev`, `send_prev`, `recv_next`,
//! `sum`: `rnnc.parallel.TorchNeighbours` over `torch.distributed`); the
//! returned `Slice` runs its backward. The work runs with the GIL released; the
//! neighbours' methods take it back for each exchange.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use numpy::{PyArray1, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rnnc::parallel::{Corrections, Neighbours, SliceData, SliceForward};
use rnnc::runtime::data::NonFiniteOutputs;
use rnnc::{RunOptions, Tensor};

use crate::cell::{Cell, Compiled, forward_report};
use crate::convert::{array_dict, tensors};
use crate::errors::detached;

/// A Python object's methods as the neighbours of one rank.
struct PyNeighbours {
    object: Py<PyAny>,
    rank: usize,
    world: usize,
}

impl PyNeighbours {
    fn new(object: &Bound<'_, PyAny>) -> PyResult<PyNeighbours> {
        Ok(PyNeighbours {
            object: object.clone().unbind(),
            rank: object.getattr("rank")?.extract()?,
            world: object.getattr("world")?.extract()?,
        })
    }

    fn send(&self, method: &str, values: &[Vec<f32>]) -> Result<(), String> {
        Python::attach(|py| {
            let arrays = PyList::new(py, values.iter().map(|v| PyArray1::from_slice(py, v)))?;
            self.object.call_method1(py, method, (arrays,))?;
            Ok::<(), PyErr>(())
        })
        .map_err(|e| format!("{method}: {e}"))
    }

    fn recv(&self, method: &str, lens: &[usize]) -> Result<Vec<Vec<f32>>, String> {
        Python::attach(|py| {
            let received = self.object.call_method1(py, method, (lens.to_vec(),))?;
            let mut out = Vec::with_capacity(lens.len());
            for (item, &len) in received.bind(py).try_iter()?.zip(lens) {
                let array = item?.cast_into::<numpy::PyArrayDyn<f32>>()?;
                let view = array.readonly();
                if view.len() != len {
                    return Err(pyo3::exceptions::PyValueError::new_err(format!(
                        "{len} values expected, {} came",
                        view.len()
                    )));
                }
                out.push(view.as_array().iter().copied().collect());
            }
            Ok(out)
        })
        .map_err(|e: PyErr| format!("{method}: {e}"))
    }
}

impl Neighbours for PyNeighbours {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world(&self) -> usize {
        self.world
    }
    fn send_next(&mut self, states: &[Vec<f32>]) -> Result<(), String> {
        self.send("send_next", states)
    }
    fn recv_prev(&mut self, lens: &[usize]) -> Result<Vec<Vec<f32>>, String> {
        self.recv("recv_prev", lens)
    }
    fn send_prev(&mut self, cotangents: &[Vec<f32>]) -> Result<(), String> {
        self.send("send_prev", cotangents)
    }
    fn recv_next(&mut self, lens: &[usize]) -> Result<Vec<Vec<f32>>, String> {
        self.recv("recv_next", lens)
    }
    fn sum(&mut self, values: &mut [f32]) -> Result<(), String> {
        let total = Python::attach(|py| {
            let array = PyArray1::from_slice(py, values);
            let summed = self.object.call_method1(py, "sum", (array,))?;
            let summed = summed.bind(py).cast::<numpy::PyArrayDyn<f32>>()?.readonly();
            Ok::<Vec<f32>, PyErr>(summed.as_array().iter().copied().collect())
        })
        .map_err(|e| format!("sum: {e}"))?;
        if total.len() != values.len() {
            return Err(format!("sum: {} values expected, {} came", values.len(), total.len()));
        }
        values.copy_from_slice(&total);
        Ok(())
    }
}

/// One rank's slice after `Cell.forward_slice`: its outputs, the steps its
/// corrections took, every solve's report; `backward` runs its backward.
#[pyclass(module = "rnnc", frozen)]
pub struct Slice {
    compiled: Arc<Compiled>,
    options: RunOptions,
    corrections: Corrections,
    forward: Mutex<SliceForward>,
}

impl Cell {
    /// `Cell.forward_slice`'s work.
    #[allow(clippy::too_many_arguments)]
    pub fn slice_forward(
        &self,
        py: Python<'_>,
        params: &Bound<'_, PyDict>,
        inputs: &Bound<'_, PyDict>,
        init: Option<&Bound<'_, PyDict>>,
        neighbours: &Bound<'_, PyAny>,
        steps: usize,
        options: RunOptions,
    ) -> PyResult<Slice> {
        let slice = SliceData {
            params: tensors(Some(params), "parameter")?.into_iter().collect::<BTreeMap<String, Tensor>>(),
            inputs: tensors(Some(inputs), "input")?,
            init: tensors(init, "initial state")?,
        };
        let mut neighbours = PyNeighbours::new(neighbours)?;
        let corrections = Corrections { steps, ..Corrections::default() };
        let compiled = &*self.compiled;
        let forward = detached(py, || {
            compiled
                .cell
                .forward_slice(&compiled.engine, slice, &options, &corrections, &mut neighbours)
                .map_err(|e| compiled.failure(e))
        })?;
        Ok(Slice { compiled: self.compiled.clone(), options, corrections, forward: Mutex::new(forward) })
    }
}

#[pymethods]
impl Slice {
    /// The slice's outputs, a dict name -> `[B, T_r, ...]` array.
    #[getter]
    fn outputs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let forward = self.forward.lock().unwrap_or_else(PoisonError::into_inner);
        array_dict(py, forward.outputs.clone())
    }

    /// The steps solved again from the true entry state (0 on rank 0).
    #[getter]
    fn prefix_steps(&self) -> usize {
        self.forward.lock().unwrap_or_else(PoisonError::into_inner).prefix_steps
    }

    /// The steps of the backward's correction (0 before `backward`, and on the last rank).
    #[getter]
    fn suffix_steps(&self) -> usize {
        self.forward.lock().unwrap_or_else(PoisonError::into_inner).suffix_steps
    }

    /// Every solve's report (as `Cell.forward`'s), forward and backward.
    #[getter]
    fn reports<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let forward = self.forward.lock().unwrap_or_else(PoisonError::into_inner);
        forward.reports.iter().map(|r| forward_report(py, r, &NonFiniteOutputs::of(&[]), None)).collect()
    }

    /// The gradients of `sum over outputs of sum(douts * outputs)` for this
    /// slice, keyed `param.*` (summed over the group), `input.*` (this
    /// slice's), `init.*` (the sequence's, on rank 0; zero elsewhere), with the
    /// same neighbours as the forward.
    fn backward<'py>(
        &self,
        py: Python<'py>,
        douts: &Bound<'py, PyDict>,
        neighbours: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let douts = tensors(Some(douts), "output cotangent")?;
        let mut neighbours = PyNeighbours::new(neighbours)?;
        let compiled = &*self.compiled;
        let grads = detached(py, || {
            let mut forward = self.forward.lock().unwrap_or_else(PoisonError::into_inner);
            compiled
                .cell
                .backward_slice(
                    &compiled.engine,
                    &douts,
                    &mut forward,
                    &self.options,
                    &self.corrections,
                    &mut neighbours,
                )
                .map_err(|e| compiled.failure(e))
        })?;
        array_dict(py, grads)
    }
}
