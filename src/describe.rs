//! The JSON the command line prints and the Python package returns, built in one
//! place: `rnnc inspect --json`'s description of a cell ([`inspect_json`]) and the
//! `--report` of `rnnc run` and `rnnc grad` ([`report_json`]); and the stored
//! shape of every parameter for bound dims ([`param_shapes`]).

use rnnc_compiler::Derived;
use rnnc_compiler::check::{DimSizes, OutputValue, Param, ParamShape, Size};
use rnnc_runtime::ForwardReport;
use rnnc_runtime::data::layout::{shape_of, stored_axes};
use rnnc_runtime::data::{DataError, NonFiniteOutputs, NonFiniteTensors};
use serde_json::{Value, json};

use crate::Cell;

/// What the compiler knows of `derived`'s cell, as `rnnc inspect --json` prints
/// it: `cell`, `doc`, `dims` (with their sizes when `sizes` binds them),
/// `inputs`, `states`, `params`, `outputs` (each `{"name", "shape"}`), the
/// proved `jacobian` structure, the number of `hoisted` values, whether the cell
/// is `linear` in its states (solved by one scan) and its `linear_states` (the
/// states whose updates are affine in the states).
pub fn inspect_json(derived: &Derived, sizes: Option<&DimSizes>) -> Value {
    let cell = &derived.cell;
    let structure = derived.structure();
    let dims: Vec<Value> = cell
        .dims
        .iter()
        .map(|(h, d)| json!({ "name": d.name, "shape": [], "size": sizes.map(|s| s.dim(h)) }))
        .collect();
    json!({
        "cell": cell.name,
        "doc": cell.doc,
        "dims": dims,
        "inputs": cell.inputs.values().map(|v| named(&v.name, shape_json(cell, v.size))).collect::<Vec<_>>(),
        "states": cell.states.values().map(|v| named(&v.name, shape_json(cell, v.size))).collect::<Vec<_>>(),
        "params": cell.params.values().map(|p| param_json(cell, p)).collect::<Vec<_>>(),
        "outputs": cell.outputs.values().map(|o| {
            let mut value = named(&o.name, shape_json(cell, o.size));
            value["source"] = json!(match o.value {
                OutputValue::State(_) => "state",
                OutputValue::Let(_) => "let",
                OutputValue::Expr(_) => "expr",
            });
            value
        }).collect::<Vec<_>>(),
        "jacobian": {
            "structure": structure.name(),
            "block": structure.block(),
            "states": if derived.jacobian.interleaved { "interleaved" } else { "concatenated" },
            "reason": derived.jacobian.reason,
        },
        "hoisted": derived.hoisting.nodes.len(),
        "linear": derived.is_linear(),
        "linear_states": cell
            .states
            .values()
            .zip(&derived.linearity.states)
            .filter(|&(_, &linear)| linear)
            .map(|(state, _)| state.name.as_str())
            .collect::<Vec<_>>(),
    })
}

fn named(name: &str, shape: Vec<Value>) -> Value {
    json!({ "name": name, "shape": shape })
}

/// A value's shape: `[size]`, or a matrix's two sides (`["D", "N"]`).
fn shape_json(cell: &Cell, size: Size) -> Vec<Value> {
    match size.matrix() {
        Some((rows, cols)) => vec![size_json(cell, rows.size()), size_json(cell, cols.size())],
        None => vec![size_json(cell, size)],
    }
}

fn size_json(cell: &Cell, size: Size) -> Value {
    match size {
        Size::Dim(dim) => json!(cell.dims[dim].name),
        Size::Fixed(n) => json!(n),
        // `3 * H`: the size as written, a string like a dim's name.
        Size::Scaled(..) | Size::Matrix(..) => json!(size.text(&cell.dims)),
    }
}

fn param_json(cell: &Cell, param: &Param) -> Value {
    let name = param.name.as_str();
    if param.scalar {
        return named(name, Vec::new());
    }
    match param.shape {
        ParamShape::Vector(size) => named(name, shape_json(cell, size)),
        ParamShape::Matrix { rows, cols } => named(name, vec![size_json(cell, rows), size_json(cell, cols)]),
        ParamShape::Block { size, block } => {
            let blocks = match size {
                Size::Fixed(n) => json!(n / block),
                _ => json!(format!("{}/{block}", size.text(&cell.dims))),
            };
            let mut value = named(name, vec![size_json(cell, size), size_json(cell, size)]);
            value["block"] = json!(block);
            value["stored_shape"] = json!([blocks, block, block]);
            value
        }
    }
}

/// The `--report` JSON of a run: the solver's `report`, with `non_finite` (and,
/// for a backward pass, `non_finite_gradients`) added, and `converged` false when
/// a result is not finite (the solver met its stopping test, but not on numbers).
pub fn report_json(
    report: &ForwardReport,
    outputs: &NonFiniteOutputs,
    gradients: Option<&NonFiniteTensors>,
) -> Result<Value, serde_json::Error> {
    let mut value = serde_json::to_value(report)?;
    let clean = outputs.count == 0 && gradients.is_none_or(|g| g.count == 0);
    if let Value::Object(fields) = &mut value {
        if !clean {
            fields.insert("converged".to_owned(), Value::Bool(false));
        }
        fields.insert("non_finite".to_owned(), serde_json::to_value(outputs)?);
        if let Some(gradients) = gradients {
            fields.insert("non_finite_gradients".to_owned(), serde_json::to_value(gradients)?);
        }
    }
    Ok(value)
}

/// The shape every parameter of `cell` is stored with for the sizes `dims`, in
/// declaration order (`block[H, K]` as `[H/K, K, K]`).
pub fn param_shapes(cell: &Cell, dims: &DimSizes) -> Result<Vec<(String, Vec<usize>)>, DataError> {
    cell.params.values().map(|p| Ok((p.name.clone(), shape_of(&stored_axes(p), cell, dims, 1, 1)?))).collect()
}
