//! Every stdlib cell, every filetest cell of the derivation (`tests/filetests`)
//! and every cell under `runtime/tests/cells` (but the chaotic ones, see
//! `cpu_divergence.rs`), at several shapes, by both methods, on 2 and on 8
//! threads (8 exercises the channel split and the time-parallel scan), against
//! the float64 interpreter: max abs error <= 2e-4 x max(1, max |reference|).

mod cpu_support;

use cpu_support::*;
use rnnc_compiler::Derived;
use rnnc_runtime::Method;

const TOLERANCE: f64 = 2e-4;
/// (B, T): one step; a length that is no multiple of any chunk, segment or
/// vector width; a long one split over threads in time.
const SHAPES: [(usize, usize); 3] = [(1, 1), (3, 37), (1, 1500)];
const CHAOTIC: [&str; 2] = ["logistic", "expanding"];

fn sizes_for(derived: &Derived) -> (u64, Vec<(&'static str, u64)>) {
    match derived.cell.name.as_str() {
        "wide_block" => (32, vec![("D", 5)]),
        _ => (12, vec![("D", 5), ("E", 7), ("O", 3)]),
    }
}

fn check_cell(derived: &Derived, label: &str) -> f64 {
    let (size, sizes) = sizes_for(derived);
    let mut failures = Vec::new();
    let mut worst = 0.0f64;
    for (index, &(batch, steps)) in SHAPES.iter().enumerate() {
        // `min_max` grows like 1.2^T once h < 0, and float32 overflows past ~400
        // steps, so its long shape stays at 300. (Newton's stopping test is per
        // element, |d| <= atol + rtol |h|: with a test against max |h| over the
        // segment, early errors survived and the expansion multiplied them.)
        let steps = if derived.cell.name == "min_max" { steps.min(300) } else { steps };
        let data = random_data(derived, &sizes, size, batch, steps, 100 + index as u64);
        let reference = reference(derived, &data);
        let mut cell = compile(derived, &data, 2);
        for threads in [2, 8] {
            cell.set_threads(threads);
            for method in [Method::Sequential, Method::Newton] {
                let (outputs, report) = forward(&cell, &data, method);
                let error = relative_error(&outputs, &reference);
                worst = worst.max(error);
                let expected = match method {
                    Method::Newton if cell.has_newton() && derived.is_linear() => "scan",
                    Method::Newton if cell.has_newton() => "newton",
                    _ => "sequential",
                };
                if error > TOLERANCE || report.method != expected {
                    failures.push(format!(
                        "{label} B={batch} T={steps} threads={threads} {method:?}: error {error:.2e}, report {report:?}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    worst
}

#[test]
fn stdlib_cells_match_the_reference() {
    let worst = stdlib_cells().iter().map(|(name, derived)| check_cell(derived, name)).fold(0.0, f64::max);
    println!("stdlib cells: worst relative error {worst:.2e}");
}

#[test]
fn derivation_filetest_cells_match_the_reference() {
    let files = rnn_files("../tests/filetests");
    assert!(files.len() >= 12, "the derivation's test cells: {}", files.len());
    let mut worst = 0.0f64;
    for (file, source) in files {
        for derived in derive_all(&source) {
            worst = worst.max(check_cell(&derived, &format!("{file}: {}", derived.cell.name)));
        }
    }
    println!("derivation test cells: worst relative error {worst:.2e}");
}

#[test]
fn own_test_cells_match_the_reference() {
    let mut worst = 0.0f64;
    for (file, source) in rnn_files("tests/cells") {
        for derived in derive_all(&source) {
            if !CHAOTIC.contains(&derived.cell.name.as_str()) {
                worst = worst.max(check_cell(&derived, &format!("{file}: {}", derived.cell.name)));
            }
        }
    }
    println!("own test cells: worst relative error {worst:.2e}");
}

#[test]
fn short_segments_carry_the_state_across() {
    let derived = stdlib("para_lstm");
    let data = random_data(&derived, &[], 12, 2, 700, 7);
    let reference = reference(&derived, &data);
    let mut cell = compile(&derived, &data, 8);
    for segment in [1, 64, 333] {
        cell.set_segment_len(Some(segment));
        let (outputs, report) = forward(&cell, &data, Method::Newton);
        assert!(relative_error(&outputs, &reference) <= TOLERANCE, "segment {segment}: {report:?}");
        assert!(report.converged && report.fallback_segments == 0, "{report:?}");
        let units = report.segments / 700u64.div_ceil(segment as u64);
        assert!(units >= 2, "segments counted per unit and segment: {report:?}");
    }
}

#[test]
fn small_dense_jacobians_scan_in_time_chunks() {
    // N <= 8 unknowns: the dense scan composes chunk maps on several threads.
    for name in ["elman", "gru", "lstm"] {
        let derived = stdlib(name);
        let data = random_data(&derived, &[], 4, 1, 1500, 9);
        let reference = reference(&derived, &data);
        let cell = compile(&derived, &data, 8);
        let (outputs, report) = forward(&cell, &data, Method::Newton);
        let error = relative_error(&outputs, &reference);
        assert!(error <= TOLERANCE && report.converged, "{name}: error {error:.2e}, {report:?}");
    }
}
