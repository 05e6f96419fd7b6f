//! The CPU back end's interface: its errors, the method `auto` picks, the
//! report, and the low-level calls the benchmarks use.

mod cpu_support;

use cpu_support::*;
use rnnc_runtime::cpu::{AUTO_NEWTON_MIN_STEPS, AUTO_NEWTON_THREADS_PER_UNIT, CpuCell, CpuError};
use rnnc_runtime::{Method, NewtonSettings};

#[test]
fn data_of_other_sizes_is_refused() {
    let derived = stdlib("para_gru");
    let small = random_data(&derived, &[], 8, 1, 5, 1);
    let large = random_data(&derived, &[], 12, 1, 5, 1);
    let cell = compile(&derived, &small, 2);
    let error = cell.forward(&large, Method::Sequential, &NewtonSettings::default()).expect_err("other sizes");
    assert!(matches!(error, CpuError::SizesDiffer { .. }), "{error}");
    assert!(error.to_string().contains("compile it for these sizes"), "{error}");
}

#[test]
fn auto_picks_sequential_unless_threads_are_plentiful() {
    let derived = stdlib("para_gru");
    let data = random_data(&derived, &[], 8, 1, 5, 1);
    let mut cell = compile(&derived, &data, 2);
    let (method, reason) = cell.choose_method(4, 100_000);
    assert_eq!(method, Method::Sequential, "{reason}");
    cell.set_threads(4 * AUTO_NEWTON_THREADS_PER_UNIT);
    assert_eq!(cell.choose_method(1, AUTO_NEWTON_MIN_STEPS).0, Method::Newton);
    assert_eq!(cell.choose_method(1, 100).0, Method::Sequential, "short sequences stay sequential");
    cell.set_threads(2);
    let (_, report) = forward(&cell, &data, Method::Auto);
    assert_eq!(report.method, "sequential");
    assert!(report.method_reason.starts_with("auto:"), "{}", report.method_reason);
}

#[test]
fn wide_dense_cells_have_no_newton() {
    let derived = stdlib("elman");
    let data = random_data(&derived, &[], 200, 1, 3, 1);
    let cell = compile(&derived, &data, 2);
    assert!(!cell.has_newton());
    let (outputs, report) = forward(&cell, &data, Method::Newton);
    assert_eq!(report.method, "sequential");
    assert!(report.method_reason.contains("dense"), "{}", report.method_reason);
    assert!(relative_error(&outputs, &reference(&derived, &data)) <= 2e-4);
}

#[test]
fn the_report_describes_the_run() {
    let derived = stdlib("para_lstm");
    let data = random_data(&derived, &[], 8, 3, 40, 2);
    let cell = compile(&derived, &data, 2);
    let (_, report) = forward(&cell, &data, Method::Newton);
    assert_eq!((report.backend.as_str(), report.method.as_str()), ("cpu", "newton"));
    assert!(report.device.contains("2 threads"), "{}", report.device);
    assert!(report.converged && report.iterations >= 2 && report.residual >= 0.0, "{report:?}");
    assert_eq!(report.segments, 3, "one segment per sequence: {report:?}");
    assert!(report.time_ms > 0.0);
    let (_, report) = forward(&cell, &data, Method::Sequential);
    assert_eq!((report.iterations, report.converged, report.residual), (1, true, 0.0));
}

#[test]
fn low_level_calls_match_forward() {
    let derived = stdlib("para_gru");
    let data = random_data(&derived, &[], 16, 2, 30, 3);
    let cell = compile(&derived, &data, 2);
    let params = cell.pack_params(&data).expect("packs");
    let pre = cell.hoist(&data, &params).expect("hoists");
    let layout = cell.layout();
    assert_eq!(pre.len(), 2 * 30 * layout.pre_width);
    let (outputs, _) = forward(&cell, &data, Method::Sequential);
    let width = layout.state_width;
    for b in 0..2 {
        let init = &data.inits()[0].data()[b * width..][..width];
        let mut states = vec![0.0; 30 * width];
        cell.run_sequential(&params, &pre[b * 30 * layout.pre_width..][..30 * layout.pre_width], init, &mut states, 30)
            .expect("runs");
        assert_eq!(states, outputs[0][b * 30 * width..][..30 * width], "sequence {b}");
    }
    let mut short = vec![0.0; 3];
    let error = cell.run_sequential(&params, &pre, &data.inits()[0].data()[..width], &mut short, 30);
    assert!(matches!(error, Err(CpuError::WrongLength { .. })), "{error:?}");
}

#[test]
fn cells_are_shared_between_threads() {
    fn shareable<T: Send + Sync>(_: &T) {}
    let derived = stdlib("mingru");
    let data = random_data(&derived, &[], 8, 2, 20, 4);
    let cell: CpuCell = compile(&derived, &data, 1);
    shareable(&cell);
    let expected = forward(&cell, &data, Method::Sequential).0;
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..3).map(|_| scope.spawn(|| forward(&cell, &data, Method::Newton).0)).collect();
        for run in runs {
            let outputs = run.join().expect("no panic");
            assert!(relative_error(&outputs, &reference(&derived, &data)) <= 2e-4);
            assert_eq!(outputs.len(), expected.len());
        }
    });
}

#[test]
fn empty_sequences_run_nothing() {
    // Bound data always has B, T >= 1; the low-level call takes T = 0.
    let derived = stdlib("para_gru");
    let data = random_data(&derived, &[], 8, 1, 3, 1);
    let cell = compile(&derived, &data, 2);
    let params = cell.pack_params(&data).expect("packs");
    let init = vec![0.5; cell.layout().state_width];
    assert!(cell.run_sequential(&params, &[], &init, &mut [], 0).is_ok());
}
