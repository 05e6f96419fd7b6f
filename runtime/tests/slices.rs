//! Slices and `K * DIM` sizes through whole kernels on both back ends, forward
//! (both methods) and backward: `stdlib:torch_gru`, PyTorch's `nn.GRU` with its
//! packed weights (`weight_ih_l0` [3H, D], gates in the order r, z, n) cut in
//! the cell (`gi[H : 2 * H]`), against a float64 reference written here from
//! PyTorch's documented equations (not the interpreter). The outputs within
//! `2e-6 * T` of the reference relative to their largest value, every gradient
//! against central differences of it (relative error below 2e-3). Also:
//! packed data gives the dim, and a packed weight whose rows are not a
//! multiple of 3 is refused by name. (`concat` and `W[START : END] @ x` are
//! checked against float64 equations by `selective_ssm.rs` and the
//! derivation filetest `slices.rnn`.)

mod support;

use std::collections::BTreeMap;

use rnnc_compiler::{check_source, derive_cell};
use rnnc_runtime::cpu::CpuCell;
use rnnc_runtime::data::random::{random_inputs, random_params, random_tensor};
use rnnc_runtime::data::{BoundData, Tensor};
use rnnc_runtime::gpu::{Gpu, GpuCell};
use rnnc_runtime::{GradientBuffers, Method, NewtonSettings};
use support::gradients::{check_reference, random_douts, reference_gradient_error, widen};

/// The cell under test: `stdlib:torch_gru`.
fn source() -> &'static str {
    rnnc_stdlib::get("torch_gru").expect("shipped").source
}

const H: usize = 5;
const D: usize = 3;

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// One step in float64, from PyTorch's equations for `nn.GRU`.
fn step(p: &Point, x: &[f64], h: &[f64]) -> Vec<f64> {
    // Row `row` of a packed [3H, cols] matrix times `v`.
    let row = |w: &[f64], row: usize, v: &[f64]| -> f64 {
        v.iter().enumerate().map(|(j, vj)| w[row * v.len() + j] * vj).sum()
    };
    let mut next = vec![0.0; H];
    for i in 0..H {
        let r = sigmoid(row(&p.w_ih, i, x) + p.b_ih[i] + row(&p.w_hh, i, h) + p.b_hh[i]);
        let z = sigmoid(row(&p.w_ih, H + i, x) + p.b_ih[H + i] + row(&p.w_hh, H + i, h) + p.b_hh[H + i]);
        let n = (row(&p.w_ih, 2 * H + i, x) + p.b_ih[2 * H + i] + r * (row(&p.w_hh, 2 * H + i, h) + p.b_hh[2 * H + i]))
            .tanh();
        next[i] = (1.0 - z) * n + z * h[i];
    }
    next
}

/// The data in float64.
#[derive(Clone)]
struct Point {
    w_ih: Vec<f64>,
    w_hh: Vec<f64>,
    b_ih: Vec<f64>,
    b_hh: Vec<f64>,
    x: Vec<f64>,
    h0: Vec<f64>,
}

/// The output `h` [B, T, H] from `point`.
fn reference(point: &Point, batch: usize, steps: usize) -> Vec<f64> {
    let mut hs = Vec::new();
    for s in 0..batch {
        let mut h = point.h0[s * H..(s + 1) * H].to_vec();
        for t in 0..steps {
            let x = &point.x[(s * steps + t) * D..(s * steps + t + 1) * D];
            let next = step(point, x, &h);
            hs.extend_from_slice(&next);
            h = next;
        }
    }
    hs
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
    let cell = check_source(source()).expect("checks").remove(0);
    let derived = derive_cell(&cell).expect("derives");
    let dims = cell.bind_dims(|name| Some(if name == "H" { H as u64 } else { D as u64 })).expect("binds");
    let params = random_params(&cell, &dims, seed).expect("params");
    let inputs = random_inputs(&cell, &dims, batch, steps, seed + 1).expect("inputs");
    let init = random_tensor(vec![batch, H], -0.5, 0.5, seed + 2).expect("init");
    let data = BoundData::bind(&cell, params, inputs, vec![("h".to_owned(), init)]).expect("binds");
    let param = |name: &str| widen(data.params()[cell.find_param(name).expect("param").index()].data());
    let point = Point {
        w_ih: param("weight_ih_l0"),
        w_hh: param("weight_hh_l0"),
        b_ih: param("bias_ih_l0"),
        b_hh: param("bias_hh_l0"),
        x: widen(data.inputs()[0].data()),
        h0: widen(data.inits()[0].data()),
    };
    Case { derived, data, point, batch, steps }
}

/// The worst relative error of `gradients` (of `sum(dh * h)`)
/// against central differences of [`reference`].
fn gradient_error(case: &Case, douts: &[Vec<f32>], gradients: &GradientBuffers) -> (f64, String) {
    let loss = |point: &Point| -> f64 {
        let hs = reference(point, case.batch, case.steps);
        hs.iter().zip(&douts[0]).map(|(v, &d)| v * f64::from(d)).sum::<f64>()
    };
    let cell = &case.derived.cell;
    let param = |name: &str| widen(&gradients.params[cell.find_param(name).expect("param").index()]);
    let tensors: [(&str, Vec<f64>, Field); 6] = [
        ("param.weight_ih_l0", param("weight_ih_l0"), |p| &mut p.w_ih),
        ("param.weight_hh_l0", param("weight_hh_l0"), |p| &mut p.w_hh),
        ("param.bias_ih_l0", param("bias_ih_l0"), |p| &mut p.b_ih),
        ("param.bias_hh_l0", param("bias_hh_l0"), |p| &mut p.b_hh),
        ("input.x", widen(&gradients.inputs[0]), |p| &mut p.x),
        ("init.h", widen(&gradients.inits[0]), |p| &mut p.h0),
    ];
    reference_gradient_error(&case.point, &tensors, |point, field| field(point), loss, 17)
}

#[test]
fn the_packed_gru_matches_the_reference_on_the_cpu() {
    for steps in [1, 60] {
        let case = case(2, steps, 3 + steps as u64);
        let douts = random_douts(&case.derived, &case.data, 5);
        let mut cell = CpuCell::compile(&case.derived, case.data.dims()).expect("compiles");
        cell.set_threads(2);
        for method in [Method::Sequential, Method::Newton] {
            let settings = NewtonSettings::default();
            let (outputs, gradients, report) =
                cell.backward(&case.data, &douts, method, &settings).expect("backward runs");
            assert_eq!(report.method, method.name(), "the method asked for ran");
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
fn the_packed_gru_matches_the_reference_on_the_gpu() {
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
            assert_eq!(report.method, method.name(), "the method asked for ran");
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

#[test]
fn packed_weights_give_the_dim_and_wrong_ones_are_refused_by_name() {
    let cell = check_source(source()).expect("checks").remove(0);
    let params = |rows: usize| -> BTreeMap<String, Tensor> {
        let tensor = |shape: Vec<usize>| Tensor::zeros(shape).expect("tensor");
        BTreeMap::from([
            ("weight_ih_l0".to_owned(), tensor(vec![rows, D])),
            ("weight_hh_l0".to_owned(), tensor(vec![3 * H, H])),
            ("bias_ih_l0".to_owned(), tensor(vec![3 * H])),
            ("bias_hh_l0".to_owned(), tensor(vec![3 * H])),
        ])
    };
    let inputs = || vec![("x".to_owned(), Tensor::zeros(vec![1, 2, D]).expect("tensor"))];
    let data = BoundData::bind(&cell, params(3 * H), inputs(), Vec::new()).expect("binds");
    assert_eq!(data.dims().of(cell.states.values().next().expect("h").size), H as u64, "H from [3 * H, D]");
    let error = BoundData::bind(&cell, params(3 * H + 1), inputs(), Vec::new()).expect_err("13 rows").to_string();
    assert!(error.contains("weight_ih_l0") && error.contains("multiple of 3"), "{error}");
}
