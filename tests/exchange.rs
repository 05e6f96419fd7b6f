//! Tensors on the device: a forward and a backward pass through an exchange
//! (every tensor written into its regions, every result read from them) give
//! the host path's outputs and gradients, for dense and block-diagonal
//! projections, block-diagonal recurrences, `scalar` parameters, several inputs
//! and states, staged products (an MLP on the input, a block matrix times a
//! gate); repeated calls allocate nothing; wrong uses are refused.

use std::collections::BTreeMap;

use rnnc::compiler::check::Size;
use rnnc::runtime::data::random::{random_inputs, random_params, random_tensor};
use rnnc::runtime::gpu::TimelinePoints;
use rnnc::{Backend, CompiledCell, Engine, Method, RunOptions, Tensor};

/// A cell with a dense and a block-diagonal projection of two inputs (one of
/// them also used elementwise), a `scalar` parameter, and two states.
const MIXED: &str = "
cell mixed {
    dim H;
    dim D;
    input x: [D];
    input u: [H];
    state h: [H];
    state c: [H];
    param W: [H, D];
    param B: block[H, 4];
    param a: [H];
    param s: scalar;
    h' = tanh(W @ x + B @ u + a * h + s * c);
    c' = sigmoid(a) * c + 0.5 * h' + 0.25 * u;
    output h;
    output c;
}";

/// An MLP on the input of another width, and a block matrix times a gate of
/// an input also used elementwise: staged products (the plan's stages).
const STAGED: &str = "
cell staged {
    dim H;
    dim D;
    input x: [D];
    input u: [H];
    state h: [H];
    param W1: [D, D];
    param b1: [D];
    param W2: [H, D];
    param B: block[H, 4];
    param a: [H];
    h' = tanh(a * h + W2 @ tanh(W1 @ x + b1) + B @ sigmoid(u) + 0.5 * u);
    output h;
}";

struct Case {
    engine: Engine,
    compiled: CompiledCell,
    params: BTreeMap<String, Tensor>,
    inputs: Vec<(String, Tensor)>,
    inits: Vec<(String, Tensor)>,
    douts: Vec<(String, Tensor)>,
}

fn case(source: &str, batch: usize, steps: usize) -> Case {
    let engine = Engine::new(Backend::Gpu, None).expect("a GPU (lavapipe in CI)");
    let compiled = engine.compile(source, None).expect("compiles");
    let cell = &compiled.derived().cell;
    let sizes = cell.bind_dims(|name| Some(if name == "H" { 16 } else { 8 })).expect("binds");
    let params = random_params(cell, &sizes, 11).expect("params");
    let inputs = random_inputs(cell, &sizes, batch, steps, 12).expect("inputs");
    let mut seed = 13;
    let mut random = |shape: Vec<usize>| {
        seed += 1;
        random_tensor(shape, -0.5, 0.5, seed).expect("random")
    };
    // A matrix state's initial state is `[B, ROWS, COLS]`.
    let state_shape = |size: Size| match size {
        Size::Matrix(rows, cols) => vec![batch, sizes.of(rows.size()) as usize, sizes.of(cols.size()) as usize],
        other => vec![batch, sizes.of(other) as usize],
    };
    let inits = cell.states.values().map(|s| (s.name.clone(), random(state_shape(s.size)))).collect();
    let douts = cell
        .outputs
        .values()
        .map(|o| (o.name.clone(), random(vec![batch, steps, sizes.of(o.size) as usize])))
        .collect();
    Case { engine, compiled, params, inputs, inits, douts }
}

fn relative_error(name: &str, got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len(), "{name}: lengths");
    let scale = want.iter().fold(1e-30f64, |m, v| m.max(f64::from(v.abs())));
    got.iter().zip(want).map(|(g, w)| f64::from((g - w).abs()) / scale).fold(0.0, f64::max)
}

/// Checks `source` at 3 sequences of `steps` steps; `in_place`: the kernels'
/// buffers that the exchange's regions must stand for in place (each group's
/// tensors one after the other, without the padding that aligns a region).
fn check_cell(source: &str, method: Method, steps: usize, in_place: &[&str]) {
    let Case { engine, compiled, params, inputs, inits, douts } = case(source, 3, steps);
    let data = compiled.bind(params.clone(), inputs.clone(), inits.clone()).expect("binds");
    let options = RunOptions { method, ..RunOptions::default() };
    let host = compiled.backward(&engine, &data, douts.clone(), &options).expect("the host path runs");

    let exchange = compiled.exchange(&engine, data.dims(), data.batch(), data.seq_len(), false).expect("an exchange");
    for (name, tensor) in &params {
        exchange.write(&engine, &format!("param.{name}"), tensor.data()).expect("writes");
    }
    for (role, tensors) in [("input", &inputs), ("init", &inits), ("dout", &douts)] {
        for (name, tensor) in tensors {
            exchange.write(&engine, &format!("{role}.{name}"), tensor.data()).expect("writes");
        }
    }
    for step in 0..2 {
        let before = engine.device_allocations();
        let (report, tape) = compiled.forward_exchange(&engine, &exchange, &options, true).expect("forward runs");
        // A cell linear in its states solves Newton's problem by one scan.
        let linear = compiled.derived().is_linear() && method == Method::Newton;
        assert_eq!(report.method, if linear { "scan" } else { method.name() });
        let report = compiled.backward_exchange(&engine, &exchange, tape.expect("a tape")).expect("backward runs");
        assert!(report.backward_ms.is_some(), "{report:?}");
        if step == 1 {
            assert_eq!(engine.device_allocations(), before, "a second step through the exchange allocated");
        }
    }
    assert_eq!(exchange.inner().in_place(), in_place, "{method:?}: the buffers bound in place");
    for (name, tensor) in &host.outputs {
        let got = exchange.read(&engine, &format!("output.{name}")).expect("reads");
        let error = relative_error(name, &got, tensor.data());
        assert!(error <= 1e-6, "{method:?} output {name}: {error:e}");
    }
    for (key, tensor) in host.gradients.keyed() {
        let got = exchange.read(&engine, &format!("grad.{key}")).expect("reads");
        let error = relative_error(&key, &got, tensor.data());
        assert!(error <= 1e-5, "{method:?} gradient {key}: {error:e}");
    }
}

#[test]
fn an_exchange_gives_the_host_paths_results() {
    // 120 rows of 8 or 16 words: each group's regions lie one after the
    // other, and the kernels read the exchange's inputs and cotangents in
    // place; its outputs too where the recurrence reads no input (a dispatch
    // may not bind one buffer to read and to write).
    let read = ["Douts", "Inputs"];
    let every = ["Douts", "Inputs", "Outputs"];
    for method in [Method::Newton, Method::Sequential] {
        check_cell(MIXED, method, 40, &read);
        // 123 rows: `u` and `c` start at the next 256 bytes, so the tensors
        // are copied between the exchange and the kernels' buffers.
        check_cell(MIXED, method, 41, &[]);
        check_cell(STAGED, method, 40, &read);
        for cell in ["para_gru", "para_lstm"] {
            check_cell(rnnc_stdlib::get(cell).expect("shipped").source, method, 40, &every);
        }
        // mamba_ssm in lanes of whole rows: its replicated projections'
        // cotangents summed over the lanes on the device.
        check_cell(rnnc_stdlib::get("mamba_ssm").expect("shipped").source, method, 40, &read);
    }
}

#[test]
fn wrong_uses_of_an_exchange_are_refused() {
    let Case { engine, compiled, params, inputs, .. } = case(MIXED, 2, 10);
    let data = compiled.bind(params, inputs, vec![]).expect("binds");
    let exchange = compiled.exchange(&engine, data.dims(), 2, 10, false).expect("an exchange");
    let error = exchange.write(&engine, "param.W", &[1.0; 3]).expect_err("a short write");
    assert!(error.to_string().contains("holds 128 values"), "{error}");
    let error = exchange.read(&engine, "param.nothing").expect_err("no such region");
    assert!(error.to_string().contains("no region `param.nothing`"), "{error}");
    // A tape of a host forward is not the exchange's.
    let (_, tape) = compiled.forward_tape(&engine, &data, &RunOptions::default()).expect("runs");
    let error = compiled.backward_exchange(&engine, &exchange, tape).expect_err("a host tape");
    assert!(error.to_string().contains("not made by a forward through this exchange"), "{error}");
    // The exchange's tape is not the host's.
    let (_, tape) = compiled.forward_exchange(&engine, &exchange, &RunOptions::default(), true).expect("runs");
    let error = compiled.backward_tape(&engine, &data, tape.expect("a tape"), vec![]).expect_err("an exchange's tape");
    assert!(error.to_string().contains("another cell or for other data"), "{error}");
    // The CPU has no device memory to share.
    let cpu = Engine::new(Backend::Cpu, None).expect("the CPU");
    let on_cpu = cpu.compile(MIXED, None).expect("compiles");
    let error = on_cpu.exchange(&cpu, data.dims(), 2, 10, false).err().expect("refused on the CPU");
    assert!(error.to_string().contains("needs a GPU engine"), "{error}");
}

#[test]
fn exported_memory_works_like_the_devices_own() {
    let Case { engine, compiled, params, inputs, .. } = case(MIXED, 2, 10);
    let data = compiled.bind(params.clone(), inputs.clone(), vec![]).expect("binds");
    // lavapipe and NVIDIA's driver both export memory as opaque descriptors.
    let exchange = compiled.exchange(&engine, data.dims(), 2, 10, true).expect("exported memory");
    let memory = exchange.inner().exported().expect("exported");
    assert!(memory.allocation_bytes >= exchange.inner().bytes());
    let descriptor = memory.descriptor().expect("a descriptor");
    drop(descriptor);
    for (name, tensor) in &params {
        exchange.write(&engine, &format!("param.{name}"), tensor.data()).expect("writes");
    }
    for (name, tensor) in &inputs {
        exchange.write(&engine, &format!("input.{name}"), tensor.data()).expect("writes");
    }
    let options = RunOptions::default();
    compiled.forward_exchange(&engine, &exchange, &options, false).expect("runs");
    let host = compiled.forward(&engine, &data, &options).expect("runs");
    for (name, tensor) in &host.outputs {
        let got = exchange.read(&engine, &format!("output.{name}")).expect("reads");
        assert!(relative_error(name, &got, tensor.data()) <= 1e-6, "{name}");
    }
}

/// A forward and a backward ordered by the exchange's shared timeline (as a
/// CUDA stream orders them) return before their work is done, wait on the
/// device for the value signalled before them, and give the host path's
/// outputs, gradients and report.
#[test]
fn calls_ordered_by_a_shared_timeline_wait_on_the_device_and_give_the_host_paths_results() {
    let Case { engine, compiled, params, inputs, inits, douts } = case(MIXED, 2, 10);
    let data = compiled.bind(params.clone(), inputs.clone(), inits.clone()).expect("binds");
    let options = RunOptions { method: Method::Newton, ..RunOptions::default() };
    let host = compiled.backward(&engine, &data, douts.clone(), &options).expect("the host path runs");
    let exchange = compiled.exchange(&engine, data.dims(), 2, 10, true).expect("exported memory");
    let first = TimelinePoints { wait: 1, signal: 2 };
    let Some(timeline) = exchange.inner().timeline() else {
        // NVIDIA's driver exports timeline semaphores; CI's lavapipe (Mesa
        // 22) has no `VK_KHR_external_semaphore_fd`, and such calls are refused.
        let gpu = rnnc::runtime::gpu::Gpu::open(None).expect("a GPU");
        assert!(gpu.is_cpu() && !gpu.shares_semaphores(), "{} shares no semaphores", gpu.describe());
        let error = compiled.forward_exchange_after(&engine, &exchange, &options, false, first).err().expect("refused");
        assert!(error.to_string().contains("no shared timeline"), "{error}");
        return;
    };
    drop(timeline.descriptor().expect("a descriptor"));
    for (name, tensor) in &params {
        exchange.write(&engine, &format!("param.{name}"), tensor.data()).expect("writes");
    }
    for (role, tensors) in [("input", &inputs), ("init", &inits), ("dout", &douts)] {
        for (name, tensor) in tensors {
            exchange.write(&engine, &format!("{role}.{name}"), tensor.data()).expect("writes");
        }
    }
    let tape = compiled.forward_exchange_after(&engine, &exchange, &options, true, first).expect("submits");
    // Nothing has signalled 1 yet: the forward cannot have run.
    assert_eq!(timeline.value().expect("a value"), 0);
    timeline.signal_from_host(1).expect("signals");
    let report = exchange.take_report(&engine).expect("reads").expect("a report");
    assert_eq!((report.method.as_str(), report.converged), ("newton", true), "{report:?}");
    assert_eq!(report.iterations, host.report.iterations, "{report:?}");
    assert!(exchange.take_report(&engine).expect("reads").is_none(), "a report is given once");
    assert!(timeline.value().expect("a value") >= 2);
    let second = TimelinePoints { wait: 2, signal: 3 };
    compiled.backward_exchange_after(&engine, &exchange, tape.expect("a tape"), second).expect("submits");
    for (name, tensor) in &host.outputs {
        let got = exchange.read(&engine, &format!("output.{name}")).expect("reads");
        assert!(relative_error(name, &got, tensor.data()) <= 1e-6, "{name}");
    }
    for (key, tensor) in host.gradients.keyed() {
        let got = exchange.read(&engine, &format!("grad.{key}")).expect("reads");
        assert!(relative_error(&key, &got, tensor.data()) <= 1e-5, "gradient {key}");
    }
    assert_eq!(timeline.value().expect("a value"), 3);
    // A backward waited for by the host after an ordered forward reports that forward.
    let third = TimelinePoints { wait: 3, signal: 4 };
    let tape = compiled.forward_exchange_after(&engine, &exchange, &options, true, third).expect("submits");
    let report = compiled.backward_exchange(&engine, &exchange, tape.expect("a tape")).expect("runs");
    assert_eq!((report.method.as_str(), report.converged), ("newton", true), "{report:?}");
    assert!(report.backward_ms.is_some(), "{report:?}");
    assert_eq!(timeline.value().expect("a value"), 4);
    // An ordered call with no work waits and signals all the same.
    exchange.handoff(&engine, TimelinePoints { wait: 4, signal: 5 }).expect("submits");
    exchange.read(&engine, "output.h").expect("waits for the device");
    assert_eq!(timeline.value().expect("a value"), 5);
    // A call that fails after its wait is staged (a stale tape) signals all the same.
    let stale = compiled
        .forward_exchange_after(&engine, &exchange, &options, true, TimelinePoints { wait: 5, signal: 6 })
        .expect("submits");
    compiled
        .forward_exchange_after(&engine, &exchange, &options, false, TimelinePoints { wait: 6, signal: 7 })
        .expect("submits");
    let points = TimelinePoints { wait: 7, signal: 8 };
    let error =
        compiled.backward_exchange_after(&engine, &exchange, stale.expect("a tape"), points).expect_err("stale");
    assert!(error.to_string().contains("another forward"), "{error}");
    exchange.read(&engine, "output.h").expect("waits for the device");
    assert_eq!(timeline.value().expect("a value"), 8);
    let backwards = TimelinePoints { wait: 5, signal: 4 };
    let error = compiled.forward_exchange_after(&engine, &exchange, &options, false, backwards).err().expect("refused");
    assert!(error.to_string().contains("later value"), "{error}");
    let unshared = compiled.exchange(&engine, data.dims(), 2, 10, false).expect("an exchange");
    assert!(unshared.inner().timeline().is_none());
    let error = compiled.forward_exchange_after(&engine, &unshared, &options, false, first).err().expect("refused");
    assert!(error.to_string().contains("no shared timeline"), "{error}");
}

#[test]
fn a_backward_after_other_calls_uses_the_exchanges_parameters_or_refuses() {
    let Case { engine, compiled, params, inputs, douts, .. } = case(MIXED, 2, 12);
    let data = compiled.bind(params.clone(), inputs.clone(), vec![]).expect("binds");
    let exchange = compiled.exchange(&engine, data.dims(), 2, 12, false).expect("an exchange");
    for (role, tensors) in [("input", &inputs), ("dout", &douts)] {
        for (name, tensor) in tensors {
            exchange.write(&engine, &format!("{role}.{name}"), tensor.data()).expect("writes");
        }
    }
    for (name, tensor) in &params {
        exchange.write(&engine, &format!("param.{name}"), tensor.data()).expect("writes");
    }
    let options = RunOptions::default();
    let (_, tape) = compiled.forward_exchange(&engine, &exchange, &options, true).expect("runs");
    // A host call with other parameters in between: the backward copies the
    // exchange's parameters again.
    let other = random_params(&compiled.derived().cell, data.dims(), 99).expect("params");
    let other_data = compiled.bind(other, inputs.clone(), vec![]).expect("binds");
    compiled.forward(&engine, &other_data, &options).expect("runs");
    compiled.backward_exchange(&engine, &exchange, tape.expect("a tape")).expect("runs");
    let host = compiled.backward(&engine, &data, douts.clone(), &options).expect("runs");
    for (key, tensor) in host.gradients.keyed() {
        let got = exchange.read(&engine, &format!("grad.{key}")).expect("reads");
        assert!(relative_error(&key, &got, tensor.data()) <= 1e-5, "{key}");
    }
    // A second forward through the exchange makes the first one's tape stale.
    let (_, first) = compiled.forward_exchange(&engine, &exchange, &options, true).expect("runs");
    compiled.forward_exchange(&engine, &exchange, &options, false).expect("runs");
    let error = compiled.backward_exchange(&engine, &exchange, first.expect("a tape")).expect_err("stale");
    assert!(error.to_string().contains("served another forward pass"), "{error}");
}

#[test]
fn an_adapter_is_chosen_by_its_uuid() {
    let engine = Engine::new(Backend::Gpu, None).expect("a GPU (lavapipe in CI)");
    let uuid = engine.device_uuid().expect("a Vulkan device has a UUID");
    let hex = rnnc::runtime::gpu::uuid_hex(&uuid);
    let same = Engine::new(Backend::Gpu, Some(&format!("uuid:{hex}"))).expect("the same adapter");
    assert_eq!(same.device_uuid(), Some(uuid));
    assert_eq!(same.device(), engine.device());
    let error = Engine::new(Backend::Gpu, Some("uuid:00000000-0000-0000-0000-000000000000")).err().expect("no match");
    assert!(error.to_string().contains(&format!("uuid:{hex}")), "{error}");
}
