//! The GPU forward pass (lavapipe in CI) against the float64 reference, for every
//! shipped cell and every derivation test cell, both methods, several shapes.

mod support;

use rnnc_compiler::analyse::JacobianStructure;
use rnnc_runtime::gpu::{Gpu, GpuCell};
use rnnc_runtime::{Method, NewtonSettings};
use support::{Case, method_failure, relative_error, sizes, test_cells};

fn gpu() -> Gpu {
    Gpu::open(None).unwrap_or_else(|e| panic!("tests need a GPU adapter (lavapipe in CI): {e}"))
}

/// Runs both methods on `case` and returns what went wrong, if anything.
fn check(gpu: &Gpu, compiled: &GpuCell, case: &Case, tolerance: f64, label: &str) -> Vec<String> {
    let mut failures = Vec::new();
    for method in [Method::Sequential, Method::Newton] {
        match compiled.forward(gpu, &case.data, method, &NewtonSettings::default()) {
            Ok((outputs, report)) => {
                let error = relative_error(&outputs, &case.reference);
                if error > tolerance {
                    failures.push(format!("{label} {method:?}: error {error:.3e} ({report:?})"));
                }
                if let Some(wrong) = method_failure(
                    &case.derived.cell.name,
                    &report,
                    method,
                    compiled.kernels().newton.is_some(),
                    case.derived.is_linear(),
                ) {
                    failures.push(format!("{label} {method:?}: {wrong} ({report:?})"));
                }
            }
            Err(e) => failures.push(format!("{label} {method:?}: {e}")),
        }
    }
    failures
}

#[test]
fn every_cell_matches_the_reference_with_both_methods() {
    let _one = support::one_at_a_time();
    let gpu = gpu();
    let mut failures = Vec::new();
    for (name, source) in test_cells() {
        let cell = rnnc_compiler::check_source(&source).expect("checks").remove(0);
        let structure = rnnc_compiler::derive_cell(&cell).expect("derives").structure();
        // Dense lanes hold whole states: keep them small, as their kernels grow as H^2.
        let base = if structure == JacobianStructure::Dense { 4 } else { 8 };
        let dims = sizes(&cell, base);
        let first = Case::new(&source, &dims, 1, 1, 11);
        let compiled = match GpuCell::compile(&gpu, &first.derived, first.data.dims()) {
            Ok(compiled) => compiled,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        failures.extend(check(&gpu, &compiled, &first, 2e-4, &format!("{name} B=1 T=1")));
        let case = Case::new(&source, &dims, 3, 300, 12);
        failures.extend(check(&gpu, &compiled, &case, 2e-4, &format!("{name} B=3 T=300")));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_long_diagonal_sequence_matches_the_reference() {
    let _one = support::one_at_a_time();
    let gpu = gpu();
    let source = rnnc_stdlib::get("para_gru").expect("shipped").source;
    let dims = vec![("H".to_owned(), 16), ("D".to_owned(), 4)];
    let case = Case::new(source, &dims, 1, 100_000, 5);
    let compiled = GpuCell::compile(&gpu, &case.derived, case.data.dims()).expect("compiles");
    let failures = check(&gpu, &compiled, &case, 1e-3, "para_gru T=100000");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The initial guess's second sweep (the default) starts each chunk from the
/// previous chunk's last guess: ParaGRU then needs fewer Newton iterations
/// than with one sweep, and both match the reference.
#[test]
fn the_second_sweep_of_the_guess_saves_newton_iterations() {
    let _one = support::one_at_a_time();
    let gpu = gpu();
    let source = rnnc_stdlib::get("para_gru").expect("shipped").source;
    let dims = vec![("H".to_owned(), 8), ("D".to_owned(), 8)];
    let case = Case::new(source, &dims, 1, 512, 7);
    let once = |target: &mut rnnc_compiler::backend::wgsl::Target| target.newton_knobs.sweeps = 1;
    let mut iterations = Vec::new();
    for (label, compiled) in [
        ("one sweep", GpuCell::compile_with(&gpu, &case.derived, case.data.dims(), once).expect("compiles")),
        ("two sweeps", GpuCell::compile(&gpu, &case.derived, case.data.dims()).expect("compiles")),
    ] {
        let (outputs, report) =
            compiled.forward(&gpu, &case.data, Method::Newton, &NewtonSettings::default()).expect("runs");
        assert!(report.converged && report.fallback_segments == 0, "{label}: {report:?}");
        let error = relative_error(&outputs, &case.reference);
        assert!(error < 1e-4, "{label}: error {error:.3e}");
        iterations.push(report.iterations);
    }
    assert!(iterations[1] < iterations[0], "iterations with one and two sweeps: {iterations:?}");
}

/// A Newton solve that does not converge is never returned as a result: the
/// segment goes to the sequential method, and the report says so.
#[test]
fn newton_that_does_not_converge_falls_back_and_says_so() {
    let _one = support::one_at_a_time();
    let gpu = gpu();
    let source = rnnc_stdlib::get("para_gru").expect("shipped").source;
    let dims = vec![("H".to_owned(), 8), ("D".to_owned(), 4)];
    let case = Case::new(source, &dims, 2, 500, 3);
    let compiled = GpuCell::compile(&gpu, &case.derived, case.data.dims()).expect("compiles");
    let one_iteration = NewtonSettings { max_iterations: 1, ..NewtonSettings::default() };
    let (outputs, report) = compiled.forward(&gpu, &case.data, Method::Newton, &one_iteration).expect("runs");
    assert!(relative_error(&outputs, &case.reference) < 2e-4);
    assert!(report.fallback_segments > 0 && !report.converged, "{report:?}");

    // The logistic map at r = 3.99 is chaotic: Newton's linearisation is poor.
    let chaotic = "cell logistic { dim H; input x: [H]; state h: [H];
        h' = 3.99 * h * (1 - h) + 0.0001 * x; output h; }";
    let dims = vec![("H".to_owned(), 8)];
    let case = Case::with_initial_range(chaotic, &dims, 1, 10, 4, (0.1, 0.9));
    let compiled = GpuCell::compile(&gpu, &case.derived, case.data.dims()).expect("compiles");
    let (outputs, report) =
        compiled.forward(&gpu, &case.data, Method::Newton, &NewtonSettings::default()).expect("runs");
    let error = relative_error(&outputs, &case.reference);
    assert!(error < 2e-3, "error {error:.3e} ({report:?})");
    // Converged by itself, or honestly handed to the sequential method.
    assert_eq!(report.method, "newton");
    assert!(report.converged == (report.fallback_segments == 0), "{report:?}");
    println!("logistic map: {report:?}");
}

/// A batch larger than one pass allows (here forced to 2 sequences) runs in several
/// passes and gives the same outputs as one pass.
#[test]
fn large_batches_are_split_into_passes() {
    let _one = support::one_at_a_time();
    let gpu = gpu();
    let source = rnnc_stdlib::get("para_lstm").expect("shipped").source;
    let dims = vec![("H".to_owned(), 8), ("D".to_owned(), 4)];
    let case = Case::new(source, &dims, 5, 200, 9);
    let mut compiled = GpuCell::compile(&gpu, &case.derived, case.data.dims()).expect("compiles");
    for method in [Method::Sequential, Method::Newton] {
        let (whole, _) = compiled.forward(&gpu, &case.data, method, &NewtonSettings::default()).expect("runs");
        compiled.set_max_batch_chunk(Some(2));
        let (split, report) = compiled.forward(&gpu, &case.data, method, &NewtonSettings::default()).expect("runs");
        compiled.set_max_batch_chunk(None);
        assert_eq!(whole, split, "{method:?}");
        assert!(relative_error(&split, &case.reference) < 2e-4, "{report:?}");
    }
}

/// A cell whose kernels' functions exceed the WGSL printer's part size (their
/// nodes computed by several functions through private variables) runs right.
#[test]
fn a_cell_cut_into_function_parts_matches_the_reference() {
    let _one = support::one_at_a_time();
    let gpu = gpu();
    let source = support::long_chain_cell(60);
    let dims = vec![("H".to_owned(), 8)];
    let case = Case::new(&source, &dims, 2, 120, 6);
    let compiled = GpuCell::compile(&gpu, &case.derived, case.data.dims()).expect("compiles");
    assert!(compiled.kernels().recurrence.contains("fn part_1("), "the step is cut into parts");
    let failures = check(&gpu, &compiled, &case, 2e-4, "chain of 60 lets");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A hoisted value too long for one function: the forward's `hoist` (which
/// computes it once per step from the projections) is cut into parts taking the
/// raw values, and the outputs still match the reference.
#[test]
fn a_hoisted_value_cut_into_function_parts_matches_the_reference() {
    let _one = support::one_at_a_time();
    let gpu = gpu();
    let source = support::hoisted_chain_cell(300);
    let dims = vec![("H".to_owned(), 8)];
    let case = Case::new(&source, &dims, 2, 60, 8);
    let compiled = GpuCell::compile(&gpu, &case.derived, case.data.dims()).expect("compiles");
    let wgsl = &compiled.kernels().recurrence;
    assert!(wgsl.contains("fn hoist(") && wgsl.contains("pre: Raw, prev"), "the hoisting is cut into parts");
    let failures = check(&gpu, &compiled, &case, 2e-4, "a hoisted chain of 300 lets");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Lanes of 16 unknowns (four states coupled through `block[H, 4]`) over several
/// Newton segments: right on every device. On a CPU device (lavapipe), whose
/// loop limit made Newton's results wrong beyond 12 unknowns while it reported
/// convergence, such a cell has no Newton kernel and the report says why; on a
/// GPU Newton runs.
#[test]
fn lanes_of_sixteen_unknowns_are_right_or_refused_with_a_reason() {
    let _one = support::one_at_a_time();
    let gpu = gpu();
    let source = "cell coupled4 { dim H; dim D; input x: [D];
        state a: [H]; state b: [H]; state c: [H]; state d: [H];
        param U: block[H, 4]; param W: [H, D];
        a' = tanh(U @ b + W @ x); b' = tanh(U @ c + 0.5 * a);
        c' = tanh(U @ d + 0.5 * b); d' = tanh(U @ a + 0.5 * c); output a; }";
    let dims = vec![("H".to_owned(), 8), ("D".to_owned(), 4)];
    let case = Case::new(source, &dims, 1, 300, 5);
    let compiled = GpuCell::compile(&gpu, &case.derived, case.data.dims()).expect("compiles");
    assert_eq!(compiled.kernels().plan.unknowns, 16);
    let (outputs, report) =
        compiled.forward(&gpu, &case.data, Method::Newton, &NewtonSettings::default()).expect("runs");
    let error = relative_error(&outputs, &case.reference);
    assert!(error < 2e-4, "error {error:.3e} ({report:?})");
    if gpu.is_cpu() {
        assert!(compiled.kernels().newton.is_none());
        assert_eq!(report.method, "sequential", "{report:?}");
        assert!(report.method_reason.contains("16 unknowns"), "{report:?}");
    } else {
        assert_eq!(report.method, "newton", "{report:?}");
    }
}
