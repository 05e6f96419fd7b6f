//! The JSON the command line prints and the Python package returns, built in one
//! place: `rnnc inspect --json`'s description of a cell ([`inspect_json`], with
//! what each back end makes of it at bound sizes: [`backend_plans`]) and the
//! `--report` of `rnnc run` and `rnnc grad` ([`report_json`]); and the stored
//! shape of every parameter for bound dims ([`param_shapes`]).

use rnnc_compiler::backend::{clif, wgsl};
use rnnc_compiler::check::{DimSizes, OutputValue, Param, ParamShape, Size};
use rnnc_compiler::{Derived, Error};
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
/// states whose updates are affine in the states); with `sizes`, `backends`:
/// [`backend_plans`] as `{"gpu": {"runs": true, "lanes", "unknowns", "whole",
/// "methods", "no_newton"} or {"runs": false, "reason"}, "cpu": {...}}`.
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
        "backends": sizes.map(|sizes| backends_json(&backend_plans(derived, sizes))),
    })
}

/// The methods a back end has for a cell: Newton (the scan, for a cell linear
/// in its states) unless `no_newton` says why not, and always the sequential
/// method.
#[derive(Clone, Debug, PartialEq)]
pub struct Methods {
    /// Whether the cell is linear in its states (Newton's kernel is one scan).
    pub linear: bool,
    /// Why there is no Newton kernel, if there is none.
    pub no_newton: Option<String>,
}

impl Methods {
    /// The methods' names, as `--method` takes them and reports name them.
    pub fn names(&self) -> Vec<&'static str> {
        match (&self.no_newton, self.linear) {
            (Some(_), _) => vec!["sequential"],
            (None, true) => vec!["scan", "sequential"],
            (None, false) => vec!["newton", "sequential"],
        }
    }
}

/// How the GPU back end cuts a cell's state and solves it.
#[derive(Clone, Debug, PartialEq)]
pub struct GpuPlan {
    /// Independent lanes per sequence (one thread's unknowns each).
    pub lanes: u64,
    /// Unknowns per lane.
    pub unknowns: u64,
    /// Why the state is one lane, when it is.
    pub whole: Option<String>,
    /// Its methods.
    pub methods: Methods,
}

/// What each back end makes of a cell at bound sizes: the GPU back end's lanes
/// and methods for a device with WebGPU's default limits (a device may still
/// refuse parameters beyond its binding size, when the kernels are compiled
/// on it), or the located reason it cannot run the cell (`--backend auto`, the
/// default, runs such a cell on the CPU); the CPU back end's methods.
#[derive(Clone, Debug)]
pub struct BackendPlans {
    /// The GPU back end's plan, or why it cannot run the cell.
    pub gpu: Result<GpuPlan, Error>,
    /// The CPU back end's methods, or why it cannot run the cell.
    pub cpu: Result<Methods, Error>,
}

/// [`BackendPlans`] of `derived` at `sizes`, from the back ends' own planning
/// (the kernels they would generate, and their reasons).
pub fn backend_plans(derived: &Derived, sizes: &DimSizes) -> BackendPlans {
    let linear = derived.is_linear();
    let gpu = wgsl::generate(derived, sizes, &wgsl::Target::default()).map(|kernels| GpuPlan {
        lanes: kernels.plan.lanes,
        unknowns: kernels.plan.unknowns,
        whole: kernels.plan.whole.clone(),
        methods: Methods { linear, no_newton: kernels.no_newton.clone() },
    });
    let cpu = clif::no_newton(derived, sizes).map(|why| Methods { linear, no_newton: why.map(str::to_owned) });
    BackendPlans { gpu, cpu }
}

fn backends_json(plans: &BackendPlans) -> Value {
    let runs = |m: &Methods| json!({ "runs": true, "methods": m.names(), "no_newton": m.no_newton });
    let refused = |e: &Error| json!({ "runs": false, "reason": e.to_string() });
    let gpu = plans.gpu.as_ref().map_or_else(refused, |plan| {
        let mut value = runs(&plan.methods);
        value["lanes"] = json!(plan.lanes);
        value["unknowns"] = json!(plan.unknowns);
        value["whole"] = json!(plan.whole);
        value
    });
    json!({ "gpu": gpu, "cpu": plans.cpu.as_ref().map_or_else(refused, runs) })
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
