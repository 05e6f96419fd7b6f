//! The reductions `sum`, `mean`, `max` (one argument) and `dot` through whole
//! kernels on both back ends, forward (both methods) and backward, against a
//! float64 reference written here from the cell's equations (not the
//! interpreter): a normaliser over the state, the maximum of a state-dependent
//! vector (its derivative goes to the first largest element), a sum of the
//! input, and a readout `dot(c, h')` output as one element per step. The
//! outputs within `2e-6 * T` of the reference relative to their largest value,
//! every gradient against central differences of it (relative error below 2e-3).

mod support;

use rnnc_compiler::{check_source, derive_cell};
use rnnc_runtime::cpu::CpuCell;
use rnnc_runtime::data::BoundData;
use rnnc_runtime::data::random::{SplitMix64, random_inputs, random_params, random_tensor};
use rnnc_runtime::gpu::{Gpu, GpuCell};
use rnnc_runtime::{GradientBuffers, Method, NewtonSettings};
use support::gradients::{reference_gradient_error, widen};
use support::output_relative_error;

const SOURCE: &str = "
cell reductions {
    dim H;
    dim D;
    input x: [D];
    state h: [H];
    param W: [H, D];
    param a: [H];
    param c: [H];

    let u = W @ x + a * h;
    let norm = sqrt(mean(h * h) + 1);
    h' = tanh(u / norm - 0.2 * max(u) + 0.1 * sum(x));
    output h;
    output y = dot(c, h');
}
";

const H: usize = 5;
const D: usize = 3;

/// One step in float64, written from the cell's equations: the next state and
/// the readout.
fn step(w: &[f64], a: &[f64], c: &[f64], x: &[f64], h: &[f64]) -> (Vec<f64>, f64) {
    let u: Vec<f64> = (0..H).map(|i| (0..D).map(|j| w[i * D + j] * x[j]).sum::<f64>() + a[i] * h[i]).collect();
    let norm = (h.iter().map(|v| v * v).sum::<f64>() / H as f64 + 1.0).sqrt();
    let peak = u.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = x.iter().sum();
    let next: Vec<f64> = u.iter().map(|&ui| (ui / norm - 0.2 * peak + 0.1 * total).tanh()).collect();
    let y = c.iter().zip(&next).map(|(ci, hi)| ci * hi).sum();
    (next, y)
}

/// The data in float64.
#[derive(Clone)]
struct Point {
    w: Vec<f64>,
    a: Vec<f64>,
    c: Vec<f64>,
    x: Vec<f64>,
    h0: Vec<f64>,
}

/// The outputs `h` [B, T, H] and `y` [B, T, 1] from `point`.
fn reference(point: &Point, batch: usize, steps: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut hs, mut ys) = (Vec::with_capacity(batch * steps * H), Vec::with_capacity(batch * steps));
    for s in 0..batch {
        let mut h = point.h0[s * H..(s + 1) * H].to_vec();
        for t in 0..steps {
            let x = &point.x[(s * steps + t) * D..(s * steps + t + 1) * D];
            let (next, y) = step(&point.w, &point.a, &point.c, x, &h);
            hs.extend_from_slice(&next);
            ys.push(y);
            h = next;
        }
    }
    (hs, ys)
}

type Field = fn(&mut Point) -> &mut Vec<f64>;

struct Case {
    derived: rnnc_compiler::Derived,
    data: BoundData,
    point: Point,
    batch: usize,
    steps: usize,
}

fn case(batch: usize, steps: usize, seed: u64) -> Case {
    let cell = check_source(SOURCE).expect("checks").remove(0);
    let derived = derive_cell(&cell).expect("derives");
    let dims = cell.bind_dims(|name| Some(if name == "H" { H as u64 } else { D as u64 })).expect("binds");
    let params = random_params(&cell, &dims, seed).expect("params");
    let inputs = random_inputs(&cell, &dims, batch, steps, seed + 1).expect("inputs");
    let init = random_tensor(vec![batch, H], -0.5, 0.5, seed + 2).expect("init");
    let data = BoundData::bind(&cell, params, inputs, vec![("h".to_owned(), init)]).expect("binds");
    let param = |name: &str| widen(data.params()[cell.find_param(name).expect("param").index()].data());
    let point = Point {
        w: param("W"),
        a: param("a"),
        c: param("c"),
        x: widen(data.inputs()[0].data()),
        h0: widen(data.inits()[0].data()),
    };
    Case { derived, data, point, batch, steps }
}

fn random_douts(case: &Case) -> Vec<Vec<f32>> {
    let mut rng = SplitMix64::new(5);
    let rows = case.batch * case.steps;
    vec![(0..rows * H).map(|_| rng.uniform(-1.0, 1.0)).collect(), (0..rows).map(|_| rng.uniform(-1.0, 1.0)).collect()]
}

/// The worst relative error of `gradients` (of `sum(dh * h) + sum(dy * y)`)
/// against central differences of [`reference`].
fn gradient_error(case: &Case, douts: &[Vec<f32>], gradients: &GradientBuffers) -> (f64, String) {
    let loss = |point: &Point| -> f64 {
        let (hs, ys) = reference(point, case.batch, case.steps);
        let dot = |values: &[f64], dout: &[f32]| values.iter().zip(dout).map(|(v, &d)| v * f64::from(d)).sum::<f64>();
        dot(&hs, &douts[0]) + dot(&ys, &douts[1])
    };
    let cell = &case.derived.cell;
    let param = |name: &str| widen(&gradients.params[cell.find_param(name).expect("param").index()]);
    let tensors: [(&str, Vec<f64>, Field); 5] = [
        ("param.W", param("W"), |p| &mut p.w),
        ("param.a", param("a"), |p| &mut p.a),
        ("param.c", param("c"), |p| &mut p.c),
        ("input.x", widen(&gradients.inputs[0]), |p| &mut p.x),
        ("init.h", widen(&gradients.inits[0]), |p| &mut p.h0),
    ];
    reference_gradient_error(&case.point, &tensors, |point, field| field(point), loss, 17)
}

fn check(label: &str, case: &Case, outputs: &[Vec<f32>], douts: &[Vec<f32>], gradients: &GradientBuffers) {
    let (hs, ys) = reference(&case.point, case.batch, case.steps);
    let tolerance = 2e-6 * case.steps as f64;
    for (name, got, want) in [("h", &outputs[0], &hs), ("y", &outputs[1], &ys)] {
        let error = output_relative_error(got, want);
        assert!(error < tolerance, "{label}: output {name} off by {error:.2e} (tolerance {tolerance:.1e})");
    }
    let (error, worst) = gradient_error(case, douts, gradients);
    assert!(error < 2e-3, "{label}: gradient error {error:.2e} at {worst}");
}

#[test]
fn reductions_match_the_reference_on_the_cpu() {
    for steps in [1, 60] {
        let case = case(2, steps, 3 + steps as u64);
        let douts = random_douts(&case);
        let mut cell = CpuCell::compile(&case.derived, case.data.dims()).expect("compiles");
        cell.set_threads(2);
        for method in [Method::Sequential, Method::Newton] {
            let settings = NewtonSettings::default();
            let (outputs, gradients, report) =
                cell.backward(&case.data, &douts, method, &settings).expect("backward runs");
            assert_eq!(report.method, method.name(), "the method asked for ran");
            let (forward, _) = cell.forward(&case.data, method, &settings).expect("forward runs");
            assert_eq!(forward, outputs, "the backward's outputs are the forward's");
            check(&format!("CPU {method:?} T={steps}"), &case, &outputs, &douts, &gradients);
        }
    }
}

#[test]
fn reductions_match_the_reference_on_the_gpu() {
    let _one = support::one_at_a_time();
    let gpu = Gpu::open(None).unwrap_or_else(|e| panic!("tests need a GPU adapter (lavapipe in CI): {e}"));
    for steps in [1, 60] {
        let case = case(2, steps, 3 + steps as u64);
        let douts = random_douts(&case);
        let compiled = GpuCell::compile(&gpu, &case.derived, case.data.dims()).expect("compiles");
        for method in [Method::Sequential, Method::Newton] {
            let settings = NewtonSettings::default();
            let (outputs, gradients, report) =
                compiled.backward(&gpu, &case.data, &douts, method, &settings).expect("backward runs");
            assert_eq!(report.method, method.name(), "the method asked for ran");
            check(&format!("GPU {method:?} T={steps}"), &case, &outputs, &douts, &gradients);
        }
    }
}
