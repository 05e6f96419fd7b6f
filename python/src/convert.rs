//! Arrays across the boundary: numpy float32 arrays in (read in place, copied once
//! into the tensors rnnc owns), tensors out (handed to numpy without a copy), and
//! the run options and JSON values the methods take and give.

use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use rnnc::{Method, NewtonSettings, RunOptions, Tensor};

use crate::errors::Failure;

/// The tensors of a dict of arrays (`None`: no tensors), named by its keys;
/// `role` names what they are in errors ("parameter", "input", ...).
pub fn tensors(dict: Option<&Bound<'_, PyDict>>, role: &str) -> PyResult<Vec<(String, Tensor)>> {
    let Some(dict) = dict else { return Ok(Vec::new()) };
    let mut tensors = Vec::with_capacity(dict.len());
    for (key, value) in dict.iter() {
        let name: String = key
            .cast::<PyString>()
            .map_err(|_| Failure::Data(format!("the {role}s must be keyed by name (str), not {}", type_name(&key))))?
            .to_string();
        tensors.push((name.clone(), tensor(&value, role, &name)?));
    }
    Ok(tensors)
}

/// One float32 array as a tensor (C order, whatever the array's strides).
fn tensor(value: &Bound<'_, PyAny>, role: &str, name: &str) -> PyResult<Tensor> {
    let Ok(array) = value.cast::<PyArrayDyn<f32>>() else {
        let what = match value.cast::<PyUntypedArray>() {
            Ok(array) => format!("a {} array", array.dtype()),
            Err(_) => type_name(value),
        };
        return Err(Failure::Data(format!(
            "{role} `{name}` must be a float32 numpy array, not {what} (convert it with numpy.asarray(..., dtype=numpy.float32))"
        ))
        .into());
    };
    let view = array.readonly();
    let shape = view.shape().to_vec();
    // `as_slice` also takes Fortran-ordered arrays, in memory order: only a
    // C-ordered one is copied as a slice, any other walked in C order.
    let data = match view.as_slice() {
        Ok(slice) if view.is_c_contiguous() => slice.to_vec(),
        _ => view.as_array().iter().copied().collect(),
    };
    Ok(Tensor::new(shape, data).map_err(|e| Failure::Data(format!("{role} `{name}`: {e}")))?)
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value.get_type().name().map_or_else(|_| "an unknown type".to_owned(), |n| format!("a {n}"))
}

/// A tensor as a numpy array of its shape; the values move, uncopied.
pub fn array<'py>(py: Python<'py>, tensor: Tensor) -> PyResult<Bound<'py, PyAny>> {
    let (shape, data) = tensor.into_parts();
    Ok(PyArray1::from_vec(py, data).reshape(shape)?.into_any())
}

/// A dict of named tensors as arrays.
pub fn array_dict<'py>(
    py: Python<'py>,
    tensors: impl IntoIterator<Item = (String, Tensor)>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, tensor) in tensors {
        dict.set_item(name, array(py, tensor)?)?;
    }
    Ok(dict)
}

/// The run options from the methods' keyword arguments (unset tolerances and cap
/// take `NewtonSettings::default()`'s); unknown methods and unusable settings are
/// `ValueError`s.
pub fn run_options(
    method: &str,
    atol: Option<f32>,
    rtol: Option<f32>,
    max_iterations: Option<u32>,
) -> Result<RunOptions, Failure> {
    let method = match method {
        "auto" => Method::Auto,
        "newton" => Method::Newton,
        "sequential" => Method::Sequential,
        other => {
            return Err(Failure::Usage(format!(
                "method must be \"auto\", \"newton\" or \"sequential\", not {other:?}"
            )));
        }
    };
    let defaults = NewtonSettings::default();
    let newton = NewtonSettings {
        atol: atol.unwrap_or(defaults.atol),
        rtol: rtol.unwrap_or(defaults.rtol),
        max_iterations: max_iterations.unwrap_or(defaults.max_iterations),
    };
    newton.validate().map_err(|e| Failure::Usage(e.to_string()))?;
    Ok(RunOptions { method, newton })
}

/// A JSON value as the Python value `json.loads` makes of it.
pub fn json_value<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value).map_err(|e| Failure::Device(e.to_string()))?;
    py.import("json")?.call_method1("loads", (text,))
}
