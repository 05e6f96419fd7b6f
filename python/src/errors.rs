//! The exceptions of `rnnc` and the boundary between Python and Rust: every call
//! into rnnc runs with the GIL released, a panic is caught there and becomes an
//! exception, and every error becomes the exception that says what kind it is.

use std::panic::{AssertUnwindSafe, catch_unwind};

use pyo3::exceptions::{PyException, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use rnnc::RunError;

pyo3::create_exception!(rnnc, Error, PyException, "The base of every error rnnc raises.");
pyo3::create_exception!(
    rnnc,
    CompileError,
    Error,
    "A cell that does not compile; the message is the rendered diagnostic (FILE:LINE:COL, the line, the labels)."
);
pyo3::create_exception!(
    rnnc,
    DataError,
    Error,
    "Data that does not fit the cell (a missing, extra or misshapen tensor, a wrong dtype, a non-finite value); the message names the tensor."
);
pyo3::create_exception!(rnnc, DeviceError, Error, "The GPU (or the CPU backend) failed, or no GPU is there.");

/// Why a call failed, as a value that crosses the GIL-free region; turned into
/// a Python exception once the GIL is held again.
#[derive(Debug)]
pub enum Failure {
    /// `rnnc.CompileError`, with the rendered diagnostics.
    Compile(String),
    /// `rnnc.DataError`.
    Data(String),
    /// `rnnc.DeviceError`.
    Device(String),
    /// `ValueError`: an argument no call may have (a method's name, a tolerance).
    Usage(String),
    /// `OSError`: a source file that cannot be read.
    Io(String),
    /// `RuntimeError`: a tape used twice.
    State(String),
}

impl Failure {
    /// The error of running a cell whose source `text` is named `file`; compile
    /// errors are rendered against it.
    pub fn of_run(error: RunError, file: &str, text: &str) -> Failure {
        match error {
            RunError::Compile(errors) => Failure::Compile(rnnc::render_errors(file, text, &errors)),
            RunError::NoSuchCell(message) => Failure::Compile(format!("{file}: {message}")),
            RunError::Data(e) => Failure::Data(e.to_string()),
            RunError::NotSliceable(message) => Failure::Usage(message),
            // What the GPU back end cannot run, at its place in the source.
            RunError::Gpu(rnnc::runtime::gpu::GpuError::Unsupported(e)) => {
                Failure::Compile(rnnc::render_errors(file, text, &[*e]))
            }
            e @ (RunError::Gpu(_)
            | RunError::Cpu(_)
            | RunError::WrongEngine
            | RunError::NeedsGpu
            | RunError::Transport(_)) => Failure::Device(e.to_string()),
        }
    }
}

impl From<Failure> for PyErr {
    fn from(failure: Failure) -> PyErr {
        match failure {
            Failure::Compile(m) => CompileError::new_err(m.trim_end().to_owned()),
            Failure::Data(m) => DataError::new_err(m),
            Failure::Device(m) => DeviceError::new_err(m),
            Failure::Usage(m) => PyValueError::new_err(m),
            Failure::Io(m) => PyOSError::new_err(m),
            Failure::State(m) => PyRuntimeError::new_err(m),
        }
    }
}

/// Runs `work` with the GIL released (other Python threads run meanwhile); a
/// panic inside is caught and raised as `RuntimeError` instead of unwinding into
/// the interpreter.
pub fn detached<T: Send>(py: Python<'_>, work: impl FnOnce() -> Result<T, Failure> + Send) -> PyResult<T> {
    let outcome = py.detach(|| catch_unwind(AssertUnwindSafe(work)));
    match outcome {
        Ok(result) => result.map_err(PyErr::from),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            Err(PyRuntimeError::new_err(format!("internal error in rnnc (a bug, please report it): {message}")))
        }
    }
}
