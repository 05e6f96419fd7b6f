//! The CPU backward pass (`CpuCell::backward`) against central differences of
//! the float64 interpreter (`support/gradients.rs`, through `cpu_support`): every gradient (each
//! parameter, input and initial state) of `sum(dout * output)` for random output
//! cotangents, with a relative error below 2e-3, for every stdlib cell and every
//! derivation test cell (`tests/filetests`), after a forward by either method;
//! and the outputs `backward` returns are exactly `forward`'s.
//!
//! The backward's reverse walk is sequential in time per unit of work unless
//! units leave threads idle; then it is a reverse scan over chunks (checked on
//! 8 threads at T = 4096 against central differences, and against the
//! sequential walk with chunks of 2 or 3 rows, where the carry between chunks
//! matters).
//!
//! Short sequences (B = 2, T = 40) run with dims of 10 (rounded up to the block
//! sizes, so vector loops end in a moved-back iteration) on 2 threads and on 8
//! (which cuts the sequences into channel ranges where the cell allows it); long
//! ones (T = 4096) check that the reverse walk stays accurate over many steps.

mod cpu_support;

use cpu_support::*;
use rnnc_compiler::Derived;
use rnnc_compiler::check::lcm;
use rnnc_compiler::interp::{Interpreter, ParamValues, Sequences};
use rnnc_runtime::cpu::CpuCell;
use rnnc_runtime::data::BoundData;
use rnnc_runtime::{GradientBuffers, Method, NewtonSettings};

const TOLERANCE: f64 = 2e-3;

/// Every stdlib cell and every derivation test cell, with a label.
fn all_cells() -> Vec<(String, Derived)> {
    let mut cells: Vec<(String, Derived)> =
        stdlib_cells().into_iter().map(|(name, derived)| (name.to_owned(), derived)).collect();
    for (file, source) in rnn_files("../tests/filetests") {
        for derived in derive_all(&source) {
            cells.push((format!("{file}: {}", derived.cell.name), derived));
        }
    }
    cells
}

/// Every dim `base`, rounded up to the cell's block sizes.
fn dims(derived: &Derived, base: u64) -> Vec<(String, u64)> {
    let cell = &derived.cell;
    cell.dims.iter().map(|(dim, d)| (d.name.clone(), lcm(base, cell.block_multiple(dim)).unwrap_or(base))).collect()
}

fn data_for(derived: &Derived, base: u64, batch: usize, steps: usize, seed: u64) -> BoundData {
    let dims = dims(derived, base);
    let named: Vec<(&str, u64)> = dims.iter().map(|(n, s)| (n.as_str(), *s)).collect();
    random_data(derived, &named, base, batch, steps, seed)
}

/// Runs forward and backward with `method` on `threads` threads, checks that
/// `backward`'s outputs are `forward`'s; the output cotangents and gradients.
fn run_backward(
    derived: &Derived,
    data: &BoundData,
    method: Method,
    threads: usize,
    seed: u64,
) -> (Vec<Vec<f32>>, GradientBuffers) {
    run_backward_on(derived, data, method, &compile(derived, data, threads), seed)
}

/// [`run_backward`] with a compiled cell.
fn run_backward_on(
    derived: &Derived,
    data: &BoundData,
    method: Method,
    cell: &CpuCell,
    seed: u64,
) -> (Vec<Vec<f32>>, GradientBuffers) {
    let name = &derived.cell.name;
    let douts = gradients::random_douts(derived, data, seed);
    let settings = NewtonSettings::default();
    let (outputs, grads, report) =
        cell.backward(data, &douts, method, &settings).unwrap_or_else(|e| panic!("{name}: backward: {e}"));
    let (forward_outputs, _) = forward(cell, data, method);
    assert!(outputs == forward_outputs, "{name} {method:?}: backward's outputs differ from forward's");
    assert!(report.backward_ms.is_some_and(|ms| ms >= 0.0), "{name}: {report:?}");
    (douts, grads)
}

/// The worst relative error of every gradient against central differences.
fn fd_error(
    derived: &Derived,
    data: &BoundData,
    douts: &[Vec<f32>],
    grads: &GradientBuffers,
    seed: u64,
) -> (f64, String) {
    gradients::gradient_error(derived, data, douts, grads, seed)
        .unwrap_or_else(|e| panic!("{}: {e}", derived.cell.name))
}

/// The largest `|g - g64| / max(|g64|, 1e-6)` over the tensors, against the
/// interpreter's float64 backpropagation through time (exact where central
/// differences cross the kinks of relu, min or max).
fn bptt_error(derived: &Derived, data: &BoundData, douts: &[Vec<f32>], grads: &GradientBuffers) -> (f64, String) {
    let cell = &derived.cell;
    let widen = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
    let params = ParamValues::from_fn(cell, data.dims(), |p, i| f64::from(data.params()[p.index()].data()[i]));
    let interp = Interpreter::new(cell, &derived.ir, data.dims(), &params).expect("interpreter");
    let inputs: Vec<Vec<f64>> = data.inputs().iter().map(|t| widen(t.data())).collect();
    let inits: Vec<Vec<f64>> = data.inits().iter().map(|t| widen(t.data())).collect();
    let douts: Vec<Vec<f64>> = douts.iter().map(|d| widen(d)).collect();
    let input_slices: Vec<&[f64]> = inputs.iter().map(Vec::as_slice).collect();
    let init_slices: Vec<Option<&[f64]>> = inits.iter().map(|v| Some(v.as_slice())).collect();
    let dout_slices: Vec<&[f64]> = douts.iter().map(Vec::as_slice).collect();
    let sequences =
        Sequences { batch: data.batch(), steps: data.seq_len(), inputs: &input_slices, initial: &init_slices };
    let want = interp.backward_sequence(&derived.derivatives, &sequences, &dout_slices).expect("reference gradients");
    // A `scalar` parameter's gradient is one number: the sum of the reference's
    // per-element gradients of its repeated tensor.
    let want_params: Vec<Vec<f64>> = cell
        .params
        .values()
        .zip(&want.params)
        .map(|(p, w)| if p.scalar { vec![w.iter().sum()] } else { w.clone() })
        .collect();
    let pairs = want_params.iter().zip(&grads.params).map(|(w, g)| ("param", w, g));
    let pairs = pairs.chain(want.inputs.iter().zip(&grads.inputs).map(|(w, g)| ("input", w, g)));
    let pairs = pairs.chain(want.initial.iter().zip(&grads.inits).map(|(w, g)| ("init", w, g)));
    let mut worst = (0.0f64, String::new());
    for (index, (kind, want, got)) in pairs.enumerate() {
        assert_eq!(want.len(), got.len(), "{kind} gradient length");
        let norm = want.iter().map(|v| v * v).sum::<f64>().sqrt();
        let diff = want.iter().zip(got).map(|(w, &g)| (w - f64::from(g)).powi(2)).sum::<f64>().sqrt();
        let error = diff / norm.max(1e-6);
        let error = if error.is_nan() { f64::INFINITY } else { error };
        if error >= worst.0 {
            worst = (error, format!("{kind} tensor {index}: |g - g64| {diff:e}, |g64| {norm:e}"));
        }
    }
    worst
}

#[test]
fn short_sequences_by_both_methods() {
    let mut failures = Vec::new();
    let mut worst = (0.0f64, String::new());
    for (number, (label, derived)) in all_cells().iter().enumerate() {
        let data = data_for(derived, 10, 2, 40, 500 + number as u64);
        for (method, threads) in [(Method::Sequential, 2), (Method::Newton, 8)] {
            let (douts, grads) = run_backward(derived, &data, method, threads, 900 + number as u64);
            let (error, what) = fd_error(derived, &data, &douts, &grads, 950 + number as u64);
            let line = format!("{label} {method:?} threads {threads}: {error:.2e} ({what})");
            if error >= TOLERANCE {
                failures.push(line.clone());
            }
            if error >= worst.0 {
                worst = (error, line);
            }
        }
    }
    println!("short sequences: worst {}", worst.1);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Cells whose float64 reference is ill-conditioned over thousands of steps:
/// `min_max` grows like 1.2^T once its state is negative (float32 overflows
/// after about 400 steps), and `cornn` at random parameters is chaotic (see
/// `support::CHAOTIC`), so their long sequences stay at 300 steps.
fn long_steps(name: &str) -> usize {
    match name {
        "min_max" | "cornn" => 300,
        _ => 4096,
    }
}

#[test]
fn long_sequences() {
    let mut failures = Vec::new();
    let mut worst = (0.0f64, String::new());
    for (number, (label, derived)) in all_cells().iter().enumerate() {
        let steps = long_steps(&derived.cell.name);
        let data = data_for(derived, 4, 1, steps, 700 + number as u64);
        let mut cell = compile(derived, &data, 2);
        cell.set_backward_chunk_len(Some(steps));
        assert_eq!(cell.backward_chunks(1, steps), 1, "{label}: the sequential reverse walk");
        let (douts, grads) = run_backward_on(derived, &data, Method::Newton, &cell, 1300 + number as u64);
        let errors = [
            ("float64 backpropagation", bptt_error(derived, &data, &douts, &grads)),
            ("central differences", fd_error(derived, &data, &douts, &grads, 1400 + number as u64)),
        ];
        for (against, (error, what)) in errors {
            let line = format!("{label} T={steps} against {against}: {error:.2e} ({what})");
            if error >= TOLERANCE {
                failures.push(line.clone());
            }
            if error >= worst.0 {
                worst = (error, line);
            }
        }
    }
    println!("long sequences: worst {}", worst.1);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_wrong_gradient_fails_the_check() {
    let derived = stdlib("para_gru");
    let data = data_for(&derived, 10, 2, 40, 3);
    let cell = compile(&derived, &data, 2);
    let douts = gradients::random_douts(&derived, &data, 4);
    let (_, grads, _) =
        cell.backward(&data, &douts, Method::Sequential, &NewtonSettings::default()).expect("backward runs");
    let (error, _) = gradients::gradient_error(&derived, &data, &douts, &grads, 5).expect("checks");
    assert!(error < TOLERANCE, "the right gradient passes: {error:.2e}");
    let spoil = |change: &dyn Fn(&mut GradientBuffers)| {
        let mut wrong = grads.clone();
        change(&mut wrong);
        gradients::gradient_error(&derived, &data, &douts, &wrong, 5).expect("checks").0
    };
    assert!(spoil(&|g| g.params[0].iter_mut().for_each(|v| *v *= 1.05)) >= TOLERANCE, "a parameter 5% off");
    let half = grads.inputs[0].len() / 2;
    assert!(spoil(&|g| g.inputs[0][half..].fill(0.0)) >= TOLERANCE, "half the input's gradient missing");
    assert!(spoil(&|g| g.inits[0].iter_mut().for_each(|v| *v = 0.0)) >= TOLERANCE, "initial states ignored");
}

/// Whether the time-parallel reverse scan must serve `derived` at dims 4 (the
/// cells whose Jacobian blocks have at most 8 unknowns).
fn scan_expected(derived: &Derived) -> bool {
    derived.structure().block().is_some_and(|k| k <= 8)
}

/// A cell on 8 threads whose backward cuts each sequence of `data` into chunks
/// (of `chunk` rows, or one per thread); `None` if it walks sequentially.
fn scanning_cell(derived: &Derived, data: &BoundData, chunk: Option<usize>) -> Option<CpuCell> {
    let mut cell = compile(derived, data, 8);
    cell.set_backward_chunk_len(chunk);
    let chunks = cell.backward_chunks(data.batch(), data.seq_len());
    assert!(chunks > 1 || !scan_expected(derived), "{}: expected the time-parallel walk", derived.cell.name);
    (chunks > 1).then_some(cell)
}

#[test]
fn time_parallel_long_sequences() {
    let mut failures = Vec::new();
    let (mut worst, mut scanned) = ((0.0f64, String::new()), 0);
    for (number, (label, derived)) in all_cells().iter().enumerate() {
        let steps = long_steps(&derived.cell.name);
        let data = data_for(derived, 4, 1, steps, 2700 + number as u64);
        let chunk = (steps < 4096).then_some(steps / 8);
        let Some(cell) = scanning_cell(derived, &data, chunk) else { continue };
        scanned += 1;
        let (douts, grads) = run_backward_on(derived, &data, Method::Sequential, &cell, 2800 + number as u64);
        let (error, what) = fd_error(derived, &data, &douts, &grads, 2900 + number as u64);
        let line = format!("{label} T={steps} against central differences: {error:.2e} ({what})");
        if error >= TOLERANCE {
            failures.push(line.clone());
        }
        if error >= worst.0 {
            worst = (error, line);
        }
    }
    println!("time-parallel long sequences ({scanned} cells): worst {}", worst.1);
    assert!(scanned >= 5, "only {scanned} cells ran the time-parallel walk");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The largest relative difference `|a - b| / max(|b|, 1e-6)` over the
/// gradient tensors (norms per tensor).
fn difference(a: &GradientBuffers, b: &GradientBuffers) -> (f64, String) {
    let pairs = a.params.iter().zip(&b.params).map(|(x, y)| ("param", x, y));
    let pairs = pairs.chain(a.inputs.iter().zip(&b.inputs).map(|(x, y)| ("input", x, y)));
    let pairs = pairs.chain(a.inits.iter().zip(&b.inits).map(|(x, y)| ("init", x, y)));
    let mut worst = (0.0f64, String::new());
    for (index, (kind, x, y)) in pairs.enumerate() {
        assert_eq!(x.len(), y.len(), "{kind} gradient length");
        let norm = y.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt();
        let diff = x.iter().zip(y).map(|(&p, &q)| (f64::from(p) - f64::from(q)).powi(2)).sum::<f64>().sqrt();
        let error = diff / norm.max(1e-6);
        let error = if error.is_nan() { f64::INFINITY } else { error };
        if error >= worst.0 {
            worst = (error, format!("{kind} tensor {index}: |a - b| {diff:e}, |b| {norm:e}"));
        }
    }
    worst
}

/// Short chunks (2 or 3 rows), so that the cotangent carried between chunks
/// (phase 2) weighs on every gradient: the time-parallel walk agrees with the
/// sequential one to float32 rounding. (Carrying only the next chunk's offset,
/// without its Jacobian product, or applying that product untransposed, puts
/// every cell with a state-dependent step at least 4e-4 off.)
#[test]
fn time_parallel_walk_matches_the_sequential_walk() {
    const AGREEMENT: f64 = 1e-4;
    let mut failures = Vec::new();
    let (mut worst, mut scanned) = ((0.0f64, String::new()), 0);
    for (number, (label, derived)) in all_cells().iter().enumerate() {
        let data = data_for(derived, 4, 2, 256, 3100 + number as u64);
        let Some(scanning) = scanning_cell(derived, &data, Some(3)) else { continue };
        scanned += 1;
        let mut sequential = compile(derived, &data, 8);
        sequential.set_backward_chunk_len(Some(256));
        assert_eq!(sequential.backward_chunks(2, 256), 1, "{label}: the sequential reverse walk");
        let (_, scanned_grads) = run_backward_on(derived, &data, Method::Sequential, &scanning, 3200 + number as u64);
        let (_, walked_grads) = run_backward_on(derived, &data, Method::Sequential, &sequential, 3200 + number as u64);
        let (error, what) = difference(&scanned_grads, &walked_grads);
        let line = format!("{label}: {error:.2e} ({what})");
        if error >= AGREEMENT {
            failures.push(line.clone());
        }
        if error >= worst.0 {
            worst = (error, line);
        }
    }
    println!("time-parallel against sequential walk ({scanned} cells): worst {}", worst.1);
    assert!(scanned >= 5, "only {scanned} cells ran the time-parallel walk");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The parameter gradient is summed over the threads' shares: which thread
/// walks which unit (sequence, channel range or chunk) is fixed by the thread
/// count, so the gradients are the same bit for bit run after run, by the
/// sequential walk and by the time-parallel one. (With units taken first come,
/// first served, para_gru's 16 sequences on 8 threads gave parameter
/// gradients that differed in the last bits from run to run.)
#[test]
fn the_gradients_are_the_same_bit_for_bit_run_after_run() {
    let derived = stdlib_cells().into_iter().find(|(name, _)| *name == "para_gru").expect("shipped").1;
    let walks = [(16, 64, None), (1, 4096, Some(64))];
    for (batch, steps, chunk) in walks {
        let data = data_for(&derived, 8, batch, steps, 3300);
        let mut cell = compile(&derived, &data, 8);
        cell.set_backward_chunk_len(chunk);
        let expected_chunks = if chunk.is_some() { steps / 64 } else { 1 };
        assert_eq!(cell.backward_chunks(batch, steps), expected_chunks, "B = {batch}, T = {steps}: the walk");
        let (_, first) = run_backward_on(&derived, &data, Method::Sequential, &cell, 3400);
        for run in 1..12 {
            let (_, again) = run_backward_on(&derived, &data, Method::Sequential, &cell, 3400);
            let same = first.params == again.params && first.inputs == again.inputs && first.inits == again.inits;
            assert!(same, "B = {batch}, T = {steps}: run {run}'s gradients differ from run 0's");
        }
    }
}
