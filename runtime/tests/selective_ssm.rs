//! Mamba's selective SSM (S6; Gu and Dao, 2023) as docs/PORTING.md writes it
//! with slices, concatenation and reductions (N = 4 states per channel, the
//! `[N, D]` state flattened n-major), through whole kernels on both back ends,
//! forward (both methods) and backward, against a float64 reference written
//! here from the paper's equations (not the interpreter):
//! `dt = softplus(W_dt x + b_dt)`, `B = W_B x`, `C = W_C x`,
//! `h[n, d] <- exp(dt[d] A[n, d]) h[n, d] + dt[d] B[n] x[d]` with
//! `A = -exp(A_log)`, and `y[d] = sum_n C[n] h[n, d]`. The outputs within
//! `2e-6 * T` of the reference relative to their largest value, every gradient
//! against central differences of it (relative error below 2e-3).

mod support;

use std::path::Path;

use rnnc_compiler::{check_source, derive_cell};
use rnnc_runtime::cpu::CpuCell;
use rnnc_runtime::data::BoundData;
use rnnc_runtime::data::random::{random_inputs, random_params, random_tensor};
use rnnc_runtime::gpu::{Gpu, GpuCell};
use rnnc_runtime::{GradientBuffers, Method, NewtonSettings};
use support::gradients::{check_reference, linear_method, random_douts, reference_gradient_error, widen};

/// The cell, from the derivation tests (the same text as docs/PORTING.md's).
fn source() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/filetests/selective_ssm.rnn");
    std::fs::read_to_string(path).expect("tests/filetests/selective_ssm.rnn")
}

const N: usize = 4;
const D: usize = 3;

fn softplus(v: f64) -> f64 {
    v.max(0.0) + (-v.abs()).exp().ln_1p()
}

/// One step in float64: the next state `[N * D]` and `y` `[D]`.
fn step(p: &Point, x: &[f64], h: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let times = |w: &[f64], row: usize| -> f64 { (0..D).map(|j| w[row * D + j] * x[j]).sum() };
    let dt: Vec<f64> = (0..D).map(|d| softplus(times(&p.w_dt, d) + p.b_dt[d])).collect();
    let b: Vec<f64> = (0..N).map(|n| times(&p.w_b, n)).collect();
    let c: Vec<f64> = (0..N).map(|n| times(&p.w_c, n)).collect();
    let mut next = vec![0.0; N * D];
    let mut y = vec![0.0; D];
    for n in 0..N {
        for d in 0..D {
            let a = -p.a_log[n * D + d].exp();
            next[n * D + d] = (dt[d] * a).exp() * h[n * D + d] + dt[d] * b[n] * x[d];
            y[d] += c[n] * next[n * D + d];
        }
    }
    (next, y)
}

/// The data in float64.
#[derive(Clone)]
struct Point {
    a_log: Vec<f64>,
    w_b: Vec<f64>,
    w_c: Vec<f64>,
    w_dt: Vec<f64>,
    b_dt: Vec<f64>,
    x: Vec<f64>,
    h0: Vec<f64>,
}

/// The output `y` [B, T, D] from `point`.
fn reference(point: &Point, batch: usize, steps: usize) -> Vec<f64> {
    let mut ys = Vec::new();
    for s in 0..batch {
        let mut h = point.h0[s * N * D..(s + 1) * N * D].to_vec();
        for t in 0..steps {
            let x = &point.x[(s * steps + t) * D..(s * steps + t + 1) * D];
            let (next, y) = step(point, x, &h);
            ys.extend_from_slice(&y);
            h = next;
        }
    }
    ys
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
    let cell = check_source(&source()).expect("checks").remove(0);
    let derived = derive_cell(&cell).expect("derives");
    let dims = cell.bind_dims(|_| Some(D as u64)).expect("binds");
    let params = random_params(&cell, &dims, seed).expect("params");
    let inputs = random_inputs(&cell, &dims, batch, steps, seed + 1).expect("inputs");
    let init = random_tensor(vec![batch, N * D], -0.5, 0.5, seed + 2).expect("init");
    let data = BoundData::bind(&cell, params, inputs, vec![("h".to_owned(), init)]).expect("binds");
    let param = |name: &str| widen(data.params()[cell.find_param(name).expect("param").index()].data());
    let point = Point {
        a_log: param("A_log"),
        w_b: param("W_B"),
        w_c: param("W_C"),
        w_dt: param("W_dt"),
        b_dt: param("b_dt"),
        x: widen(data.inputs()[0].data()),
        h0: widen(data.inits()[0].data()),
    };
    Case { derived, data, point, batch, steps }
}

/// The worst relative error of `gradients` (of `sum(dy * y)`)
/// against central differences of [`reference`].
fn gradient_error(case: &Case, douts: &[Vec<f32>], gradients: &GradientBuffers) -> (f64, String) {
    let loss = |point: &Point| -> f64 {
        let ys = reference(point, case.batch, case.steps);
        ys.iter().zip(&douts[0]).map(|(v, &d)| v * f64::from(d)).sum::<f64>()
    };
    let cell = &case.derived.cell;
    let param = |name: &str| widen(&gradients.params[cell.find_param(name).expect("param").index()]);
    let tensors: [(&str, Vec<f64>, Field); 7] = [
        ("param.A_log", param("A_log"), |p| &mut p.a_log),
        ("param.W_B", param("W_B"), |p| &mut p.w_b),
        ("param.W_C", param("W_C"), |p| &mut p.w_c),
        ("param.W_dt", param("W_dt"), |p| &mut p.w_dt),
        ("param.b_dt", param("b_dt"), |p| &mut p.b_dt),
        ("input.x", widen(&gradients.inputs[0]), |p| &mut p.x),
        ("init.h", widen(&gradients.inits[0]), |p| &mut p.h0),
    ];
    reference_gradient_error(&case.point, &tensors, |point, field| field(point), loss, 17)
}

#[test]
fn the_selective_ssm_matches_the_reference_on_the_cpu() {
    for steps in [1, 60] {
        let case = case(2, steps, 3 + steps as u64);
        let douts = random_douts(&case.derived, &case.data, 5);
        let mut cell = CpuCell::compile(&case.derived, case.data.dims()).expect("compiles");
        cell.set_threads(2);
        for method in [Method::Sequential, Method::Newton] {
            let settings = NewtonSettings::default();
            let (outputs, gradients, report) =
                cell.backward(&case.data, &douts, method, &settings).expect("backward runs");
            assert_eq!(report.method, linear_method(method), "the method asked for ran");
            let (forward, _) = cell.forward(&case.data, method, &settings).expect("forward runs");
            assert_eq!(forward, outputs, "the backward's outputs are the forward's");
            check_reference(
                &format!("CPU {method:?} T={steps}"),
                case.steps,
                &outputs[0],
                &reference(&case.point, case.batch, case.steps),
                gradient_error(&case, &douts, &gradients),
            );
        }
    }
}

#[test]
fn the_selective_ssm_matches_the_reference_on_the_gpu() {
    let _one = support::one_at_a_time();
    let gpu = Gpu::open(None).unwrap_or_else(|e| panic!("tests need a GPU adapter (lavapipe in CI): {e}"));
    for steps in [1, 60] {
        let case = case(2, steps, 3 + steps as u64);
        let douts = random_douts(&case.derived, &case.data, 5);
        let compiled = GpuCell::compile(&gpu, &case.derived, case.data.dims()).expect("compiles");
        for method in [Method::Sequential, Method::Newton] {
            let settings = NewtonSettings::default();
            let (outputs, gradients, report) =
                compiled.backward(&gpu, &case.data, &douts, method, &settings).expect("backward runs");
            assert_eq!(report.method, linear_method(method), "the method asked for ran");
            check_reference(
                &format!("GPU {method:?} T={steps}"),
                case.steps,
                &outputs[0],
                &reference(&case.point, case.batch, case.steps),
                gradient_error(&case, &douts, &gradients),
            );
        }
    }
}
