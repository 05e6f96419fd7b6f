//! The Newton kernel's two ways of exchanging chunk values (subgroup operations,
//! and workgroup memory only) against the float64 reference and each other, on
//! the three layouts of lanes over subgroups: a lane's chunks spanning several
//! subgroups, filling one, and several lanes in one (lavapipe's subgroups are
//! 8 invocations: 32, 8 and 4 chunks a lane).

mod support;

use rnnc_compiler::backend::wgsl::NewtonKnobs;
use rnnc_runtime::gpu::{Gpu, GpuCell};
use rnnc_runtime::{Method, NewtonSettings};
use support::{Case, relative_error};

#[test]
fn both_exchanges_match_the_reference_on_every_layout() {
    let _one = support::one_at_a_time();
    let gpu = Gpu::open(None).unwrap_or_else(|e| panic!("tests need a GPU adapter (lavapipe in CI): {e}"));
    assert!(gpu.has_subgroups(), "lavapipe (and every GPU we run on) has subgroup operations");
    let mut failures = Vec::new();
    for (name, dims) in [("para_gru", [("H", 16), ("D", 4)]), ("para_lstm", [("H", 16), ("D", 4)])] {
        let source = rnnc_stdlib::get(name).expect("shipped").source;
        let dims: Vec<(String, u64)> = dims.iter().map(|&(n, s)| (n.to_owned(), s)).collect();
        let case = Case::new(source, &dims, 2, 700, 3);
        for threads in [256, 64, 32] {
            for subgroups in [true, false] {
                let knobs: NewtonKnobs =
                    format!("threads={threads},lanes=8,subgroups={}", u8::from(subgroups)).parse().expect("knobs");
                let compiled =
                    GpuCell::compile_with(&gpu, &case.derived, case.data.dims(), Some(knobs)).expect("compiles");
                assert_eq!(compiled.kernels().newton_subgroups, subgroups, "{name}: the exchange asked for");
                let (outputs, report) = compiled
                    .forward(&gpu, &case.data, Method::Newton, &NewtonSettings::default())
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                let error = relative_error(&outputs, &case.reference);
                let label = format!("{name} threads={threads} subgroups={subgroups}");
                if error > 1e-4 || report.method != "newton" || report.fallback_segments > 0 || !report.converged {
                    failures.push(format!("{label}: error {error:.3e} ({report:?})"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
