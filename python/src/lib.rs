//! `rnnc._rnnc`, the extension module behind `import rnnc`: compiling cells
//! (`compile`, `stdlib`), running them over numpy arrays (`Cell`, `Tape`), and the
//! exceptions. The pure-Python package `python/rnnc/` re-exports it and adds
//! `rnnc.torch`.
//!
//! Boundary rules: every call into rnnc releases the GIL and catches panics
//! (`errors::detached`); every error is an exception of `errors`; arrays come in
//! as float32 numpy arrays, read in place, and go out as numpy arrays that own
//! the tensors' memory.

mod cell;
mod convert;
mod engines;
mod errors;
mod exchange;
mod parallel;

use std::sync::Arc;

use pyo3::prelude::*;
use rnnc::{LoadError, Source};

use cell::{Cell, Compiled, Tape};
use errors::{CompileError, DataError, DeviceError, Error, Failure, detached};

/// Where a cell's source comes from.
enum Origin {
    /// `.rnn` text, named `<string>` in diagnostics.
    Text(String),
    /// A file path or `stdlib:NAME`.
    Load(String),
}

impl Origin {
    /// A string that holds a brace or a line break is source text; anything else
    /// (a path, `stdlib:NAME`) names a source to load. A `pathlib.Path` is a path.
    fn of(source: &Bound<'_, PyAny>) -> PyResult<Origin> {
        if let Ok(text) = source.extract::<String>() {
            let is_text = text.contains('{') || text.contains('\n');
            return Ok(if is_text { Origin::Text(text) } else { Origin::Load(text) });
        }
        let path: std::path::PathBuf = source.extract()?;
        Ok(Origin::Load(path.to_string_lossy().into_owned()))
    }

    fn load(self) -> Result<Source, Failure> {
        match self {
            Origin::Text(text) => Ok(Source::from_text("<string>", text)),
            Origin::Load(spec) => Source::load(&spec).map_err(|e| match e {
                e @ LoadError::UnknownStdlibCell { .. } => Failure::Compile(e.to_string()),
                e => Failure::Io(e.to_string()),
            }),
        }
    }
}

fn compile_source(
    py: Python<'_>,
    origin: Origin,
    cell: Option<String>,
    backend: &str,
    adapter: Option<String>,
) -> PyResult<Cell> {
    let backend = engines::parse_backend(backend)?;
    let (compiled, notice) = detached(py, || {
        let source = origin.load()?;
        let text = rnnc::compiler::source_text(&source.bytes)
            .map_err(|e| Failure::Compile(rnnc::render_errors(&source.name, &source.display_text(), &[e])))?
            .to_owned();
        let engine = engines::engine(backend, adapter.as_deref())?;
        let compiled = engine.compile(&text, cell.as_deref()).map_err(|e| Failure::of_run(e, &source.name, &text))?;
        let notice = engine.notice().map(str::to_owned);
        Ok((Compiled { engine, cell: compiled, file: source.name, text }, notice))
    })?;
    if let Some(notice) = notice {
        let category = py.get_type::<pyo3::exceptions::PyRuntimeWarning>();
        PyErr::warn(py, &category, &std::ffi::CString::new(notice).unwrap_or_default(), 1)?;
    }
    Ok(Cell { compiled: Arc::new(compiled) })
}

/// Compiles the cell `cell` (or the only one) of `source`: `.rnn` text, a path,
/// or `stdlib:NAME`, for `backend` (`"auto"`: the best GPU, else the CPU with a
/// `RuntimeWarning`; `"gpu"`; `"cpu"`) on `adapter` (an index or part of a GPU's
/// name). Raises `CompileError` with the rendered diagnostics.
#[pyfunction]
#[pyo3(signature = (source, cell=None, backend="auto", adapter=None))]
fn compile(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    cell: Option<String>,
    backend: &str,
    adapter: Option<String>,
) -> PyResult<Cell> {
    compile_source(py, Origin::of(source)?, cell, backend, adapter)
}

/// The shipped cell `name` (`"para_gru"`, ...) compiled for `backend`.
#[pyfunction]
#[pyo3(signature = (name, backend="auto", adapter=None))]
fn stdlib(py: Python<'_>, name: &str, backend: &str, adapter: Option<String>) -> PyResult<Cell> {
    compile_source(py, Origin::Load(format!("{}{name}", rnnc::STDLIB_PREFIX)), None, backend, adapter)
}

/// The source text of the shipped cell `name`.
#[pyfunction]
fn stdlib_source(name: &str) -> PyResult<String> {
    let source = Origin::Load(format!("{}{name}", rnnc::STDLIB_PREFIX)).load()?;
    Ok(source.display_text())
}

/// The names of the shipped cells.
#[pyfunction]
fn stdlib_names() -> Vec<&'static str> {
    rnnc::stdlib::CELLS.iter().map(|c| c.name).collect()
}

#[pymodule]
fn _rnnc(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    module.add_class::<Cell>()?;
    module.add_class::<Tape>()?;
    module.add_class::<exchange::Exchange>()?;
    module.add_class::<parallel::Slice>()?;
    module.add_function(wrap_pyfunction!(compile, module)?)?;
    module.add_function(wrap_pyfunction!(stdlib, module)?)?;
    module.add_function(wrap_pyfunction!(stdlib_source, module)?)?;
    module.add_function(wrap_pyfunction!(stdlib_names, module)?)?;
    module.add("Error", py.get_type::<Error>())?;
    module.add("CompileError", py.get_type::<CompileError>())?;
    module.add("DataError", py.get_type::<DataError>())?;
    module.add("DeviceError", py.get_type::<DeviceError>())?;
    Ok(())
}
