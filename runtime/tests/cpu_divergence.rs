//! Cells on which Newton struggles still give the right answer, and the report
//! says what happened: the iterations it took, or the segments that fell back
//! to the sequential method.

mod cpu_support;

use cpu_support::*;
use rnnc_runtime::{Method, NewtonSettings};

fn own_cell(name: &str) -> rnnc_compiler::Derived {
    let (_, source) = rnn_files("tests/cells")
        .into_iter()
        .find(|(file, _)| file == &format!("{name}.rnn"))
        .unwrap_or_else(|| panic!("no cell {name}"));
    derive_all(&source).remove(0)
}

#[test]
fn logistic_map_short_matches_and_reports_its_iterations() {
    // Chaos doubles float32's rounding error every step or two, so only a short
    // sequence has a float32 answer to compare with the float64 one.
    let derived = own_cell("logistic");
    let data = random_data_with_inits(&derived, &[], 8, 2, 10, 3, (0.1, 0.9));
    let reference = reference(&derived, &data);
    let cell = compile(&derived, &data, 2);
    for method in [Method::Sequential, Method::Newton] {
        let (outputs, report) = forward(&cell, &data, method);
        let error = relative_error(&outputs, &reference);
        println!("{method:?}: error {error:.2e}, {report:?}");
        assert!(error <= 2e-4, "{method:?}: error {error:.2e}, {report:?}");
        if method == Method::Newton {
            assert!(report.iterations >= 5 || report.fallback_segments > 0, "{report:?}");
        }
    }
}

#[test]
fn logistic_map_long_falls_back_to_the_exact_sequential_answer() {
    let derived = own_cell("logistic");
    let data = random_data_with_inits(&derived, &[], 8, 2, 3000, 4, (0.1, 0.9));
    let mut cell = compile(&derived, &data, 2);
    cell.set_segment_len(Some(500));
    let (sequential, _) = forward(&cell, &data, Method::Sequential);
    let (newton, report) = forward(&cell, &data, Method::Newton);
    println!("{report:?}");
    assert!(report.fallback_segments > 0 && !report.converged, "{report:?}");
    assert_eq!(newton, sequential, "a fallen-back segment is the sequential method's");
}

#[test]
fn expanding_recurrence_matches_and_reports() {
    let derived = own_cell("expanding");
    let data = random_data(&derived, &[], 8, 2, 1500, 5);
    let reference = reference(&derived, &data);
    let cell = compile(&derived, &data, 2);
    for method in [Method::Sequential, Method::Newton] {
        let (outputs, report) = forward(&cell, &data, method);
        let error = relative_error(&outputs, &reference);
        println!("{method:?}: error {error:.2e}, {report:?}");
        assert!(error <= 2e-4, "{method:?}: error {error:.2e}, {report:?}");
        if method == Method::Newton {
            assert!(report.iterations >= 4 || report.fallback_segments > 0, "{report:?}");
        }
    }
}

#[test]
fn the_iteration_cap_sends_every_segment_to_the_sequential_method() {
    let derived = stdlib("para_gru");
    let data = random_data(&derived, &[], 12, 3, 200, 6);
    let reference = reference(&derived, &data);
    let cell = compile(&derived, &data, 2);
    let settings = NewtonSettings { max_iterations: 1, ..NewtonSettings::default() };
    let (outputs, report) = cell.forward(&data, Method::Newton, &settings).expect("runs");
    assert!(relative_error(&outputs, &reference) <= 2e-4, "{report:?}");
    assert_eq!(report.fallback_segments, report.segments, "{report:?}");
    assert!(!report.converged && report.iterations == 1, "{report:?}");
}

#[test]
fn non_finite_updates_fall_back() {
    // Huge recurrent weights: the Jacobian overflows float32 within a few steps,
    // so Newton's update is not finite; the sequential answer saturates fine.
    let source = "cell huge { dim H; dim D; input x: [D]; state h: [H]; param W: [H, D]; \
                  h' = tanh(1e30 * h + W @ x) * 1e30; output h; }";
    let huge = derive_all(source).remove(0);
    let data = random_data(&huge, &[], 8, 1, 400, 8);
    let reference = reference(&huge, &data);
    let cell = compile(&huge, &data, 2);
    let (outputs, report) = forward(&cell, &data, Method::Newton);
    println!("{report:?}");
    assert!(report.fallback_segments > 0, "{report:?}");
    assert!(relative_error(&outputs, &reference) <= 2e-4, "{report:?}");
}
