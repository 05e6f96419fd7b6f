//! The GPU backward pass (lavapipe in CI): every gradient of every shipped cell
//! and every derivation test cell, by both methods, against central differences
//! of the float64 reference (`support::gradients`), at T = 40 and T = 4096.
//! `RNNC_TEST_CELL=NAME[,NAME..]` runs those cells only (CI's checked-shader
//! pass: `.ci/run`), `RNNC_TEST_VERBOSE=1` prints every error.

mod support;

use rnnc_compiler::analyse::JacobianStructure;
use rnnc_compiler::backend::wgsl::{LaneMode, ProjectionLayout, Target};
use rnnc_runtime::gpu::{Gpu, GpuCell};
use rnnc_runtime::{Method, NewtonSettings};
use support::gradients::{gradient_errors, random_douts};
use support::{Case, method_failure, relative_error, sizes, test_cells};

const TOLERANCE: f64 = 2e-3;

fn gpu() -> Gpu {
    Gpu::open(None).unwrap_or_else(|e| panic!("tests need a GPU adapter (lavapipe in CI): {e}"))
}

/// Both methods' gradients on `case`, and the forward's outputs unchanged; what
/// went wrong, if anything.
fn check(gpu: &Gpu, compiled: &GpuCell, case: &Case, label: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let douts = random_douts(&case.derived, &case.data, 99);
    let settings = NewtonSettings::default();
    let mut gradients = Vec::new();
    for method in [Method::Sequential, Method::Newton] {
        let (outputs, grads, report) = match compiled.backward(gpu, &case.data, &douts, method, &settings) {
            Ok(result) => result,
            Err(e) => {
                failures.push(format!("{label} {method:?}: {e}"));
                continue;
            }
        };
        let forward = compiled.forward(gpu, &case.data, method, &settings).map(|(o, _)| o);
        if forward.as_ref().ok() != Some(&outputs) {
            failures.push(format!("{label} {method:?}: the backward's outputs differ from the forward's"));
        }
        let error = relative_error(&outputs, &case.reference);
        if error > 1e-3 {
            failures.push(format!("{label} {method:?}: the outputs are off by {error:.2e}"));
        }
        if report.backward_ms.is_none() {
            failures.push(format!("{label} {method:?}: the report has no backward time"));
        }
        if let Some(wrong) = method_failure(
            &case.derived.cell.name,
            &report,
            method,
            compiled.kernels().newton.is_some(),
            case.derived.is_linear(),
        ) {
            failures.push(format!("{label} {method:?}: {wrong}"));
        }
        gradients.push((method, grads));
    }
    let all: Vec<_> = gradients.iter().map(|(_, g)| g).collect();
    for ((method, _), result) in gradients.iter().zip(gradient_errors(&case.derived, &case.data, &douts, &all, 5)) {
        match result {
            Ok((error, worst)) if error < TOLERANCE => {
                if std::env::var_os("RNNC_TEST_VERBOSE").is_some() {
                    eprintln!("{label} {method:?}: error {error:.2e} at {worst}");
                }
            }
            Ok((error, worst)) => failures.push(format!("{label} {method:?}: error {error:.2e} at {worst}")),
            Err(e) => failures.push(format!("{label} {method:?}: {e}")),
        }
    }
    failures
}

fn dims_for(source: &str) -> Vec<(String, u64)> {
    let cell = rnnc_compiler::check_source(source).expect("checks").remove(0);
    let structure = rnnc_compiler::derive_cell(&cell).expect("derives").structure();
    sizes(&cell, if structure == JacobianStructure::Dense { 4 } else { 8 })
}

/// Checks every test cell (or `RNNC_TEST_CELL`'s) with `batch` sequences of
/// `steps(name)` steps.
fn check_every_cell(batch: usize, steps: impl Fn(&str) -> usize, seed: u64) {
    let gpu = gpu();
    let mut failures = Vec::new();
    let only = std::env::var("RNNC_TEST_CELL").ok();
    let only: Option<Vec<&str>> = only.as_deref().map(|names| names.split(',').map(str::trim).collect());
    let cells = test_cells();
    if let Some(names) = &only {
        let unknown: Vec<_> = names.iter().filter(|n| !cells.iter().any(|(name, _)| name == *n)).collect();
        assert!(unknown.is_empty(), "RNNC_TEST_CELL names no test cell: {unknown:?}");
    }
    for (name, source) in cells {
        if only.as_ref().is_some_and(|names| !names.contains(&name.as_str())) {
            continue;
        }
        let steps = steps(&name);
        let case = Case::new(&source, &dims_for(&source), batch, steps, seed);
        match GpuCell::compile(&gpu, &case.derived, case.data.dims()) {
            Ok(compiled) => failures.extend(check(&gpu, &compiled, &case, &format!("{name} B={batch} T={steps}"))),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_gradient_of_every_cell_matches_finite_differences() {
    let _one = support::one_at_a_time();
    check_every_cell(2, |_| 40, 21);
}

#[test]
fn long_sequences_have_the_right_gradients() {
    let _one = support::one_at_a_time();
    // `min_max` grows like 1.2^T once its state is negative: past a few hundred
    // steps its float32 values overflow (see gpu_forward.rs); `cornn` at random
    // parameters is chaotic (`support::CHAOTIC`).
    check_every_cell(1, |name| if name == "min_max" || name == "cornn" { 300 } else { 4096 }, 31);
}

/// The backward kernels of a cell cut into function parts (see `gpu_forward.rs`).
#[test]
fn a_cell_cut_into_function_parts_has_the_right_gradients() {
    let _one = support::one_at_a_time();
    let gpu = gpu();
    let source = support::long_chain_cell(60);
    let case = Case::new(&source, &[("H".to_owned(), 8)], 2, 40, 7);
    let compiled = GpuCell::compile(&gpu, &case.derived, case.data.dims()).expect("compiles");
    let failures = check(&gpu, &compiled, &case, "chain of 60 lets");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Where the Newton kernel's workgroups hold too few lanes to read whole
/// sectors (here forced: 1 lane a workgroup), the Newton passes lay the
/// projections out column by column (the product written transposed, the
/// Newton and reverse-scan pipelines made for it) and the sequential passes
/// step by step, in one workspace: both methods' outputs and gradients still match
/// the float64 reference, for dense projections and for a block-diagonal
/// pair of one input (one grouped product of two matrices).
/// Matrix states in lanes of whole rows beyond what one thread holds whole
/// (two `[20, 2]` states, 80 elements together): an LSTM's cell and hidden
/// state as matrices, coupled element by element, so a lane (a row of each)
/// keeps its dense `4 x 4` Jacobian and Newton iterates; the replicated
/// projection `W @ x` (`[N]`) read in every row, its cotangent the lanes'
/// shares summed in groups of 4 lanes and over the 5 groups. Both methods
/// against the float64 reference.
#[test]
fn matrix_states_in_lanes_of_whole_rows_give_the_reference_gradients() {
    let _one = support::one_at_a_time();
    let gpu = gpu();
    let source = "cell matrix_lstm {
        dim D;
        dim N;
        input x: [D];
        state c: [D, N];
        state h: [D, N];
        param W: [N, D];  param u: [D, N];  param v: [D, N];
        let k = W @ x;
        let g = outer(x, k);
        let f = sigmoid(u * h + g);
        c' = f * c + (1 - f) * tanh(v * h + g);
        h' = tanh(c') * sigmoid(g);
        output y = h' @ k;
    }";
    let dims = [("D".to_owned(), 20), ("N".to_owned(), 2)];
    let case = Case::new(source, &dims, 2, 300, 43);
    let four_lanes = |target: &mut Target| target.newton_knobs.lanes = Some(4);
    let compiled = GpuCell::compile_with(&gpu, &case.derived, case.data.dims(), four_lanes).expect("compiles");
    let plan = &compiled.kernels().plan;
    assert!(matches!(plan.mode, LaneMode::Rows { rows: 1, .. }), "{:?}", plan.mode);
    assert_eq!((plan.lanes, plan.unknowns, plan.jacobian_block), (20, 4, 4));
    assert_eq!(plan.replicated.len(), 1, "W @ x held whole by every lane");
    assert_eq!(compiled.kernels().newton.map(|shape| shape.lanes), Some(4));
    let failures = check(&gpu, &compiled, &case, "matrix_lstm in lanes of whole rows");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn projections_laid_out_column_by_column_give_the_same_gradients() {
    let _one = support::one_at_a_time();
    let gpu = gpu();
    let heads = "cell heads {
        dim H;
        input x: [H];
        state h: [H];
        param W: block[H, 4];  param U: block[H, 4];  param a: [H];  param b: [H];
        let z = sigmoid(a * h + W @ x + b);
        h' = z * h + (1 - z) * tanh(U @ x);
        output h;
    }";
    let mut failures = Vec::new();
    for (name, source) in [
        ("para_gru", rnnc_stdlib::get("para_gru").expect("shipped").source),
        ("para_lstm", rnnc_stdlib::get("para_lstm").expect("shipped").source),
        ("block_elman", rnnc_stdlib::get("block_elman").expect("shipped").source),
        ("heads", heads),
    ] {
        let case = Case::new(source, &dims_for(source), 2, 300, 41);
        let one_lane = |target: &mut Target| target.newton_knobs.lanes = Some(1);
        let compiled = GpuCell::compile_with(&gpu, &case.derived, case.data.dims(), one_lane).expect("compiles");
        assert_eq!(compiled.kernels().newton_projections, ProjectionLayout::ByColumn, "{name}");
        failures.extend(check(&gpu, &compiled, &case, &format!("{name}, projections by column")));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
