//! `rnnc.Exchange`: a cell's tensors for one batch size and sequence length in
//! one buffer on the GPU (`Cell.exchange`), which CUDA maps through its
//! exported memory (`rnnc.cuda`), so that a forward and backward pass read
//! and write tensors in place and nothing crosses the host. Its forward keeps
//! the tape its backward uses.

use std::collections::BTreeMap;
use std::os::fd::IntoRawFd;
use std::sync::{Arc, Mutex, PoisonError};

use numpy::PyArrayMethods;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use rnnc::DeviceExchange;
use rnnc::runtime::data::NonFiniteOutputs;
use rnnc::runtime::gpu::TimelinePoints;

use crate::cell::{Cell, Compiled, forward_report};
use crate::convert::{run_options, tensors};
use crate::errors::{Failure, detached};

/// A cell's tensors on the GPU, at the regions `regions` lists.
#[pyclass(module = "rnnc", frozen)]
pub struct Exchange {
    compiled: Arc<Compiled>,
    inner: DeviceExchange,
    /// The last forward's tape, for `backward`.
    tape: Mutex<Option<rnnc::Tape>>,
}

impl Exchange {
    /// `Cell.exchange`'s work.
    pub fn new(
        py: Python<'_>,
        cell: &Cell,
        dims: &BTreeMap<String, u64>,
        batch: usize,
        steps: usize,
        export: bool,
    ) -> PyResult<Exchange> {
        let sizes = cell.bind_dims(dims)?;
        let compiled = &*cell.compiled;
        let inner = detached(py, || {
            compiled.cell.exchange(&compiled.engine, &sizes, batch, steps, export).map_err(|e| compiled.failure(e))
        })?;
        Ok(Exchange { compiled: cell.compiled.clone(), inner, tape: Mutex::new(None) })
    }
}

#[pymethods]
impl Exchange {
    /// Every region: a dict name -> `(offset in bytes, shape)`, the names
    /// `param.W`, `input.x`, `init.h`, `output.h`, `dout.h`, `grad.param.W`,
    /// `grad.input.x`, `grad.init.h`; float32, C order, offsets aligned to 256 bytes.
    #[getter]
    fn regions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for region in &self.inner.layout().regions {
            let shape = PyTuple::new(py, &region.shape)?;
            dict.set_item(&region.name, (region.offset * 4, shape))?;
        }
        Ok(dict)
    }

    /// The batch size and sequence length it holds.
    #[getter]
    fn shape(&self) -> (usize, usize) {
        (self.inner.layout().batch, self.inner.layout().steps)
    }

    /// The buffer's size in bytes.
    #[getter]
    fn nbytes(&self) -> u64 {
        self.inner.inner().bytes()
    }

    /// The exported allocation's size in bytes (what an import names), or
    /// `None` when the memory is not exported.
    #[getter]
    fn allocation_bytes(&self) -> Option<u64> {
        self.inner.inner().exported().map(|m| m.allocation_bytes)
    }

    /// A new file descriptor of the exported memory, owned by the caller (an
    /// import into CUDA takes it over). Raises `rnnc.DeviceError` when the
    /// memory is not exported.
    fn descriptor(&self) -> PyResult<i32> {
        let memory = self.inner.inner().exported().ok_or_else(|| {
            Failure::Device("this exchange's memory is not exported (make it with export=True)".into())
        })?;
        let fd = memory.descriptor().map_err(|e| Failure::Device(format!("duplicating the descriptor: {e}")))?;
        Ok(fd.into_raw_fd())
    }

    /// The GPU's UUID (16 bytes, as CUDA's `cuDeviceGetUuid`), or `None`.
    #[getter]
    fn device_uuid<'py>(&self, py: Python<'py>) -> Option<Bound<'py, pyo3::types::PyBytes>> {
        self.compiled.engine.device_uuid().map(|uuid| pyo3::types::PyBytes::new(py, &uuid))
    }

    /// Writes each array of `arrays` (a dict region name -> float32 array of
    /// the region's shape) from the host.
    fn write(&self, py: Python<'_>, arrays: &Bound<'_, PyDict>) -> PyResult<()> {
        let named = tensors(Some(arrays), "region")?;
        let compiled = &*self.compiled;
        detached(py, || {
            for (name, tensor) in &named {
                self.inner.write(&compiled.engine, name, tensor.data()).map_err(|e| compiled.failure(e))?;
            }
            Ok(())
        })
    }

    /// Region `name` read back to the host, as a float32 array of its shape.
    fn read<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let compiled = &*self.compiled;
        let values = detached(py, || self.inner.read(&compiled.engine, name).map_err(|e| compiled.failure(e)))?;
        let shape = self.inner.layout().region(name).map(|r| r.shape.clone()).unwrap_or_default();
        Ok(numpy::PyArray1::from_vec(py, values).reshape(shape)?.into_any())
    }

    /// A new file descriptor of the exchange's shared timeline semaphore
    /// (owned by the caller; CUDA imports it as a timeline semaphore), or
    /// `None` where the exchange has none (not exported, or a device without
    /// `VK_KHR_external_semaphore_fd`).
    fn timeline_descriptor(&self) -> PyResult<Option<i32>> {
        let Some(timeline) = self.inner.inner().timeline() else { return Ok(None) };
        let fd = timeline.descriptor().map_err(|e| Failure::Device(format!("duplicating the descriptor: {e}")))?;
        Ok(Some(fd.into_raw_fd()))
    }

    /// An ordered call with no work: waits for the value `after` on the
    /// shared timeline and signals `after + 1` (what ordering alone costs).
    fn handoff(&self, py: Python<'_>, after: u64) -> PyResult<()> {
        let compiled = &*self.compiled;
        let points = TimelinePoints::after(after);
        detached(py, || self.inner.handoff(&compiled.engine, points).map_err(|e| compiled.failure(e)))
    }

    /// The report of the last `forward(after=...)` (waiting for its work if
    /// it is not done), once; `None` when there is none. Untimed.
    fn report<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let compiled = &*self.compiled;
        let report = detached(py, || self.inner.take_report(&compiled.engine).map_err(|e| compiled.failure(e)))?;
        report.map(|report| forward_report(py, &report, &NonFiniteOutputs::of(&[]), None)).transpose()
    }

    /// Runs the cell forward over the tensors in the exchange, writing its
    /// outputs there: the report (as `Cell.forward`'s; the outputs are not
    /// read, so `non_finite` counts nothing). With `keep`, the tape is kept
    /// for `backward`. With `after=v`, the call is ordered on the device by
    /// the exchange's shared timeline instead of by the host: its work waits
    /// for the value `v` and signals `v + 1` when done; it returns `None` once
    /// submitted, and `report()` gives the report.
    #[pyo3(signature = (method="auto", atol=None, rtol=None, max_iterations=None, keep=false, after=None))]
    #[allow(clippy::too_many_arguments)]
    fn forward<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        atol: Option<f32>,
        rtol: Option<f32>,
        max_iterations: Option<u32>,
        keep: bool,
        after: Option<u64>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let options = run_options(method, atol, rtol, max_iterations)?;
        let compiled = &*self.compiled;
        if let Some(wait) = after {
            let points = TimelinePoints::after(wait);
            let tape = detached(py, || {
                compiled
                    .cell
                    .forward_exchange_after(&compiled.engine, &self.inner, &options, keep, points)
                    .map_err(|e| compiled.failure(e))
            })?;
            *self.tape.lock().unwrap_or_else(PoisonError::into_inner) = tape;
            return Ok(None);
        }
        let (report, tape) = detached(py, || {
            compiled
                .cell
                .forward_exchange(&compiled.engine, &self.inner, &options, keep)
                .map_err(|e| compiled.failure(e))
        })?;
        *self.tape.lock().unwrap_or_else(PoisonError::into_inner) = tape;
        forward_report(py, &report, &NonFiniteOutputs::of(&[]), None).map(Some)
    }

    /// The backward pass of the last `forward(keep=True)`: the cotangents read
    /// from the `dout.*` regions, every gradient written to the `grad.*`
    /// regions; the report with the backward's times. The `input.*` regions
    /// must still hold the forward's inputs (the kernels may read them in
    /// place). Raises `RuntimeError`
    /// without such a forward (a tape serves one backward pass). With
    /// `after=v`, ordered by the shared timeline as `forward(after=v)`:
    /// returns `None` once submitted.
    #[pyo3(signature = (after=None))]
    fn backward<'py>(&self, py: Python<'py>, after: Option<u64>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let tape = self.tape.lock().unwrap_or_else(PoisonError::into_inner).take().ok_or_else(|| {
            Failure::State("no forward(keep=True) to go back through (a tape serves one backward pass)".to_owned())
        })?;
        let compiled = &*self.compiled;
        if let Some(wait) = after {
            let points = TimelinePoints::after(wait);
            detached(py, || {
                compiled
                    .cell
                    .backward_exchange_after(&compiled.engine, &self.inner, tape, points)
                    .map_err(|e| compiled.failure(e))
            })?;
            return Ok(None);
        }
        let report = detached(py, || {
            compiled.cell.backward_exchange(&compiled.engine, &self.inner, tape).map_err(|e| compiled.failure(e))
        })?;
        forward_report(py, &report, &NonFiniteOutputs::of(&[]), None).map(Some)
    }

    fn __repr__(&self) -> String {
        let (batch, steps) = self.shape();
        let exported = if self.inner.inner().exported().is_some() { ", exported" } else { "" };
        format!("<rnnc.Exchange B={batch} T={steps}, {} bytes{exported}>", self.nbytes())
    }
}
