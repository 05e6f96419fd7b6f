//! The embedded API's resident runtime: repeated calls of one shape allocate
//! nothing on the device, and a forward pass's tape gives the backward pass the
//! forward's states (the same gradients as a fresh forward + backward).

use rnnc::runtime::data::BoundData;
use rnnc::runtime::data::random::{random_inputs, random_params, random_tensor};
use rnnc::{Backend, CompiledCell, Engine, Method, RunOptions, Tensor};

fn setup(backend: Backend, cell: &str, batch: usize, steps: usize) -> (Engine, CompiledCell, BoundData) {
    let engine = Engine::new(backend, None).expect("an engine (lavapipe in CI)");
    let compiled = engine.compile(rnnc_stdlib::get(cell).expect("shipped").source, None).expect("compiles");
    let checked = &compiled.derived().cell;
    let sizes = checked.bind_dims(|name| Some(if name == "H" { 16 } else { 8 })).expect("binds");
    let params = random_params(checked, &sizes, 3).expect("params");
    let inputs = random_inputs(checked, &sizes, batch, steps, 4).expect("inputs");
    let data = compiled.bind(params, inputs, vec![]).expect("binds");
    (engine, compiled, data)
}

fn douts(compiled: &CompiledCell, data: &BoundData) -> Vec<(String, Tensor)> {
    let cell = &compiled.derived().cell;
    cell.outputs
        .values()
        .map(|o| {
            let shape = vec![data.batch(), data.seq_len(), data.dims().of(o.size) as usize];
            (o.name.clone(), random_tensor(shape, -1.0, 1.0, 5).expect("random"))
        })
        .collect()
}

#[test]
fn repeated_gpu_calls_allocate_nothing() {
    let (engine, compiled, data) = setup(Backend::Gpu, "para_gru", 3, 200);
    for method in [Method::Newton, Method::Sequential] {
        let options = RunOptions { method, ..RunOptions::default() };
        let first = compiled.forward(&engine, &data, &options).expect("runs");
        let before = engine.device_allocations().expect("a GPU");
        let second = compiled.forward(&engine, &data, &options).expect("runs");
        assert_eq!(engine.device_allocations(), Some(before), "{method:?}: a second forward allocated");
        assert_eq!(first.outputs, second.outputs);
        assert_eq!(second.report.method, method.name());
    }
    // A training step: forward with a tape, backward from it; the second step
    // allocates nothing.
    let options = RunOptions { method: Method::Newton, ..RunOptions::default() };
    for step in 0..2 {
        let before = engine.device_allocations().expect("a GPU");
        let (_, tape) = compiled.forward_tape(&engine, &data, &options).expect("runs");
        compiled.backward_tape(&engine, &data, tape, douts(&compiled, &data)).expect("runs");
        if step == 1 {
            assert_eq!(engine.device_allocations(), Some(before), "a second training step allocated");
        }
    }
}

#[test]
fn the_tape_gives_the_gradients_of_a_fresh_backward_pass() {
    for backend in [Backend::Gpu, Backend::Cpu] {
        let (engine, compiled, data) = setup(backend, "para_lstm", 2, 150);
        for method in [Method::Newton, Method::Sequential] {
            let options = RunOptions { method, ..RunOptions::default() };
            let fresh = compiled.backward(&engine, &data, douts(&compiled, &data), &options).expect("runs");
            let (forward, tape) = compiled.forward_tape(&engine, &data, &options).expect("runs");
            let (gradients, report) =
                compiled.backward_tape(&engine, &data, tape, douts(&compiled, &data)).expect("runs");
            assert_eq!(forward.outputs, fresh.outputs, "{backend:?} {method:?}");
            // The CPU sums per-thread partial gradients in no fixed order: equal to
            // rounding, not bit for bit.
            let difference = largest_difference(&gradients, &fresh.gradients);
            assert!(difference <= 1e-5, "{backend:?} {method:?}: gradients differ by {difference:e}");
            assert_eq!(report.method, method.name(), "{backend:?}");
            assert!(report.backward_ms.is_some() && report.time_ms > 0.0, "{report:?}");
        }
    }
}

#[test]
fn a_tape_for_other_data_is_refused() {
    let (engine, compiled, data) = setup(Backend::Gpu, "indrnn", 2, 50);
    let (_, other, longer) = setup(Backend::Gpu, "indrnn", 2, 60);
    drop(other);
    let (_, tape) = compiled.forward_tape(&engine, &data, &RunOptions::default()).expect("runs");
    let error = compiled.backward_tape(&engine, &longer, tape, douts(&compiled, &longer)).expect_err("refused");
    assert!(error.to_string().contains("other data"), "{error}");
}

/// The largest difference between two sets of gradients, relative to the
/// largest magnitude of each tensor (infinite if their names or shapes differ).
fn largest_difference(a: &rnnc::Gradients, b: &rnnc::Gradients) -> f64 {
    let tensors = |g: &rnnc::Gradients| -> Vec<(String, Tensor)> {
        g.params.iter().chain(&g.inputs).chain(&g.inits).cloned().collect()
    };
    let (a, b) = (tensors(a), tensors(b));
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    let mut worst = 0.0f64;
    for ((na, ta), (nb, tb)) in a.iter().zip(&b) {
        if na != nb || ta.shape() != tb.shape() {
            return f64::INFINITY;
        }
        let scale = ta.data().iter().fold(1e-30f64, |m, v| m.max(f64::from(v.abs())));
        for (x, y) in ta.data().iter().zip(tb.data()) {
            worst = worst.max(f64::from((x - y).abs()) / scale);
        }
    }
    worst
}
