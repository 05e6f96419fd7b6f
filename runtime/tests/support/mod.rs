//! What the runtime's end-to-end tests share: every test cell, random data bound to
//! it, and the float64 reference outputs from the compiler's interpreter.

#![allow(dead_code)]

pub mod gradients;

use std::path::Path;

use rnnc_compiler::check::{Cell, DimSizes, lcm};
use rnnc_compiler::interp::{Interpreter, ParamValues, Sequences};
use rnnc_compiler::{Derived, derive_cell};
use rnnc_runtime::data::BoundData;
use rnnc_runtime::data::random::{random_inputs, random_params, random_tensor};

/// One GPU test at a time: on lavapipe (CI) the kernels run on the CPU's
/// threads, and two tests' devices at once oversubscribe them (the backward
/// tests took 418 s in parallel test threads against 44 s one after another).
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Every cell the backends are tested on: the shipped cells (but those with
/// blocks over [`rnnc_stdlib::LARGEST_SMALL_TEST_BLOCK`]) and the derivation tests' cells
/// (`tests/filetests/*.rnn`), as (name, source).
pub fn test_cells() -> Vec<(String, String)> {
    let small = |source: &str| {
        rnnc_compiler::check_source(source)
            .expect("checks")
            .iter()
            .all(|c| c.largest_block() <= rnnc_stdlib::LARGEST_SMALL_TEST_BLOCK)
    };
    let mut cells: Vec<(String, String)> = rnnc_stdlib::CELLS
        .iter()
        .filter(|c| small(c.source))
        .map(|c| (c.name.to_owned(), c.source.to_owned()))
        .collect();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/filetests");
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).expect("tests/filetests").map(|e| e.expect("entry").path()).collect();
    files.sort();
    for path in files.into_iter().filter(|p| p.extension().is_some_and(|e| e == "rnn")) {
        let source = std::fs::read_to_string(&path).expect("readable");
        cells.push((path.file_stem().expect("stem").to_string_lossy().into_owned(), source));
    }
    cells
}

/// Small sizes for every dim of `cell`: `base`, rounded up to the block sizes.
pub fn sizes(cell: &Cell, base: u64) -> Vec<(String, u64)> {
    cell.dims.iter().map(|(dim, d)| (d.name.clone(), lcm(base, cell.block_multiple(dim)).unwrap_or(base))).collect()
}

/// A cell ready to run: derived, with random data bound and the reference outputs.
pub struct Case {
    pub derived: Derived,
    pub data: BoundData,
    pub reference: Vec<Vec<f64>>,
}

impl Case {
    /// Random parameters, inputs and initial states for `batch` sequences of `steps`.
    pub fn new(source: &str, dims: &[(String, u64)], batch: usize, steps: usize, seed: u64) -> Case {
        Case::with_initial_range(source, dims, batch, steps, seed, (-0.5, 0.5))
    }

    /// [`Case::new`] with initial states drawn uniformly from `range`.
    pub fn with_initial_range(
        source: &str,
        dims: &[(String, u64)],
        batch: usize,
        steps: usize,
        seed: u64,
        range: (f32, f32),
    ) -> Case {
        let cell = rnnc_compiler::check_source(source).expect("checks").remove(0);
        let derived = derive_cell(&cell).expect("derives");
        let dim_sizes: DimSizes =
            cell.bind_dims(|n| dims.iter().find(|(d, _)| d == n).map(|&(_, s)| s)).expect("sizes bind");
        let params = random_params(&cell, &dim_sizes, seed).expect("random params");
        let inputs: Vec<(String, _)> = random_inputs(&cell, &dim_sizes, batch, steps, seed + 1).expect("random inputs");
        let inits: Vec<(String, _)> = cell
            .states
            .values()
            .enumerate()
            .map(|(i, s)| {
                let shape = init_shape(&cell, &dim_sizes, s.size, batch);
                (s.name.clone(), random_tensor(shape, range.0, range.1, seed + 2 + i as u64).expect("init"))
            })
            .collect();
        let data = BoundData::bind(&cell, params, inputs, inits).expect("data binds");
        let reference = reference(&derived, &data);
        Case { derived, data, reference }
    }
}

/// The shape of an initial state of length `size` for `batch` sequences:
/// `[B, H]`, or `[B, D, N]` for a matrix state.
pub fn init_shape(cell: &Cell, dims: &DimSizes, size: rnnc_compiler::check::Size, batch: usize) -> Vec<usize> {
    rnnc_runtime::data::layout::shape_of(&rnnc_runtime::data::layout::init_axes(size), cell, dims, batch, 1)
        .expect("an initial state's shape")
}

/// The float64 reference outputs of `data` through `derived`.
pub fn reference(derived: &Derived, data: &BoundData) -> Vec<Vec<f64>> {
    let cell = &derived.cell;
    let params = ParamValues::from_fn(cell, data.dims(), |p, i| f64::from(data.params()[p.index()].data()[i]));
    let interp = Interpreter::new(cell, &derived.ir, data.dims(), &params).expect("interpreter");
    let inputs: Vec<Vec<f64>> =
        data.inputs().iter().map(|t| t.data().iter().map(|&v| f64::from(v)).collect()).collect();
    let inits: Vec<Vec<f64>> = data.inits().iter().map(|t| t.data().iter().map(|&v| f64::from(v)).collect()).collect();
    let input_slices: Vec<&[f64]> = inputs.iter().map(Vec::as_slice).collect();
    let init_slices: Vec<Option<&[f64]>> = inits.iter().map(|v| Some(v.as_slice())).collect();
    let run = interp
        .run_sequence(&Sequences {
            batch: data.batch(),
            steps: data.seq_len(),
            inputs: &input_slices,
            initial: &init_slices,
        })
        .expect("reference runs");
    run.outputs
}

/// The largest error relative to `max(1, max |reference|)`, over every output.
pub fn relative_error(outputs: &[Vec<f32>], reference: &[Vec<f64>]) -> f64 {
    assert_eq!(outputs.len(), reference.len(), "number of outputs");
    outputs.iter().zip(reference).fold(0.0f64, |worst, (out, want)| worst.max(output_relative_error(out, want)))
}

/// The largest error of one output relative to `max(1, max |reference|)`
/// (infinite where a value is not a number).
pub fn output_relative_error(output: &[f32], reference: &[f64]) -> f64 {
    assert_eq!(output.len(), reference.len(), "output length");
    let scale = reference.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let error = output.iter().zip(reference).fold(0.0f64, |m, (&o, &w)| {
        let e = (f64::from(o) - w).abs();
        if e.is_nan() { f64::INFINITY } else { m.max(e) }
    });
    let relative = error / scale;
    if relative.is_finite() { relative } else { f64::INFINITY }
}

/// Why `cornn` is an exception: at random parameters (weak damping, random
/// coupling of the oscillators) its trajectories are chaotic, growing apart like
/// about e^(0.005 T): over 4096 steps float32 and float64 part, and float32
/// Newton can stall just above its tolerance in some segments of 50 steps.
pub const CHAOTIC: &str = "chaotic at random parameters: float32 Newton can stall just above the tolerance";

/// The test cells on which Newton is known not to converge by itself for some
/// data, and why: their solves may hand segments to the sequential method (and
/// must say so). Every other cell must converge without falling back.
pub const NEWTON_MAY_FALL_BACK: &[(&str, &str)] = &[
    ("min_max", "min and max are not smooth: the linearisation switches branches and Newton cycles"),
    ("cornn", CHAOTIC),
    (
        "dense_cross_state",
        "b' = 0.5 a + b accumulates without bound; over thousands of steps float32 updates stall above the tolerance",
    ),
];

/// What is wrong with `report` of a solve of cell `cell` that asked for `asked`,
/// if anything: the method that ran must be the one asked for (sequential only
/// where the cell has no Newton kernel: `has_newton`; one scan where Newton was
/// asked for a cell proved `linear`), and a Newton solve must
/// have converged in every segment without falling back to the sequential method
/// (cells of [`NEWTON_MAY_FALL_BACK`]: or fallen back and said so).
pub fn method_failure(
    cell: &str,
    report: &rnnc_runtime::ForwardReport,
    asked: rnnc_runtime::Method,
    has_newton: bool,
    linear: bool,
) -> Option<String> {
    use rnnc_runtime::Method;
    let expected = match asked {
        Method::Newton if !has_newton => Method::Sequential,
        Method::Newton if linear => Method::Scan,
        other => other,
    };
    if expected == Method::Scan && (report.iterations != 1 || !report.converged) {
        return Some(format!("a scan took {} iteration(s), converged {}", report.iterations, report.converged));
    }
    if report.method != expected.name() {
        return Some(format!("{} ran instead of {}", report.method, expected.name()));
    }
    if report.converged != (report.fallback_segments == 0) {
        return Some("`converged` contradicts `fallback_segments`".to_owned());
    }
    let may_fall_back = NEWTON_MAY_FALL_BACK.iter().any(|&(name, _)| name == cell);
    if expected == Method::Newton && !may_fall_back && !report.converged {
        return Some(format!(
            "Newton did not converge by itself ({} of {} segments fell back)",
            report.fallback_segments, report.segments
        ));
    }
    None
}

/// A cell whose hoisted value is a chain of `lets` state-free `let`s on an
/// input projection, so the forward's `hoist` function is cut into parts.
pub fn hoisted_chain_cell(lets: usize) -> String {
    let mut source =
        String::from("cell hoisted_chain {\n  dim H;\n  input x: [H];\n  state h: [H];\n  param W: [H, H];\n");
    source.push_str("  let c0 = W @ x;\n");
    for i in 1..lets {
        source.push_str(&format!("  let c{i} = tanh(0.5 * c{} + 0.1);\n", i - 1));
    }
    source.push_str(&format!("  h' = c{} * h + 0.5 * tanh(h);\n  output h;\n}}\n", lets - 1));
    source
}

/// A cell of `lets` chained `let`s (mixing the state and the input at every
/// link): long enough that its kernels' functions are cut into parts.
pub fn long_chain_cell(lets: usize) -> String {
    let mut source = String::from("cell chain {\n  dim H;\n  input x: [H];\n  state h: [H];\n  param a: [H];\n");
    source.push_str("  let c0 = a * h + x;\n");
    for i in 1..lets {
        source.push_str(&format!("  let c{i} = 0.5 * c{} + 0.01 * sin(c{} + x);\n", i - 1, i - 1));
    }
    source.push_str(&format!("  h' = tanh(c{} + 0.1 * h);\n  output h;\n}}\n", lets - 1));
    source
}
