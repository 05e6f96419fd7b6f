//! The GPU backward pass (lavapipe in CI): every gradient of every shipped cell
//! and every derivation test cell, by both methods, against central differences
//! of the float64 reference (`support::gradients`), at T = 40 and T = 4096.

mod support;

use rnnc_compiler::analyse::JacobianStructure;
use rnnc_runtime::gpu::{Gpu, GpuCell};
use rnnc_runtime::{Method, NewtonSettings};
use support::gradients::{gradient_error, random_douts};
use support::{Case, sizes, test_cells};

const TOLERANCE: f64 = 2e-3;

fn gpu() -> Gpu {
    Gpu::open(None).unwrap_or_else(|e| panic!("tests need a GPU adapter (lavapipe in CI): {e}"))
}

/// Both methods' gradients on `case`, and the forward's outputs unchanged; what
/// went wrong, if anything.
fn check(gpu: &Gpu, compiled: &GpuCell, case: &Case, label: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let douts = random_douts(&case.derived, &case.data, 99);
    for method in [Method::Sequential, Method::Newton] {
        let settings = NewtonSettings::default();
        let result = compiled.backward(gpu, &case.data, &douts, method, &settings);
        let (outputs, gradients, report) = match result {
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
        if report.backward_ms.is_none() {
            failures.push(format!("{label} {method:?}: the report has no backward time"));
        }
        match gradient_error(&case.derived, &case.data, &douts, &gradients, 5) {
            Ok((error, worst)) if error < TOLERANCE => {
                let _ = worst;
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

#[test]
fn every_gradient_of_every_cell_matches_finite_differences() {
    let gpu = gpu();
    let mut failures = Vec::new();
    let only = std::env::var("RNNC_TEST_CELL").ok();
    for (name, source) in test_cells() {
        if only.as_ref().is_some_and(|o| *o != name) {
            continue;
        }
        eprintln!("{name}");
        let case = Case::new(&source, &dims_for(&source), 2, 40, 21);
        match GpuCell::compile(&gpu, &case.derived, case.data.dims()) {
            Ok(compiled) => failures.extend(check(&gpu, &compiled, &case, &format!("{name} B=2 T=40"))),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn long_sequences_have_the_right_gradients() {
    let gpu = gpu();
    let mut failures = Vec::new();
    for (name, source) in test_cells() {
        // `min_max` grows like 1.2^T once its state is negative: past a few
        // hundred steps its float32 values overflow (see gpu_forward.rs).
        let steps = if name == "min_max" { 300 } else { 4096 };
        let case = Case::new(&source, &dims_for(&source), 1, steps, 31);
        match GpuCell::compile(&gpu, &case.derived, case.data.dims()) {
            Ok(compiled) => failures.extend(check(&gpu, &compiled, &case, &format!("{name} T={steps}"))),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
