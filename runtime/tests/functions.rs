//! The functions beyond the core (`^` and `pow` with integer, negative and
//! fractional exponents, `log1p`, `expm1`, `erf`, and the composites
//! `logsigmoid`, `clamp` and `gelu`) through whole kernels on both back ends,
//! forward (both methods) and backward, against a float64 reference written
//! here from the cell's equations (not the interpreter): the outputs within
//! `2e-6 * T` of it relative to their largest value, and every gradient
//! against central differences of it (relative error below 2e-3).

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
cell functions {
    dim H;
    input x: [H];
    state h: [H];
    param a: [H];
    param b: [H];

    let u = a * h + x;
    let pos = softplus(u) + 0.5;
    let s = 0.2 * u ^ 2 + 0.05 * pow(u, 3) + 0.1 * pos ^ -1 + 0.1 * pos ^ 0.5 + 0.1 * pow(pos, -1.5);
    let t = 0.2 * log1p(pos) + 0.1 * expm1(0.3 * u) + 0.3 * erf(u) + 0.2 * logsigmoid(b * h);
    let g = 0.3 * gelu(u) + 0.2 * clamp(x, -0.5, 0.5) + 0.1 * clamp(b * h, -0.3, 0.3);
    h' = 0.5 * tanh(s + t + g) + 0.3 * h;
    output h;
}
";

const H: usize = 5;

/// One step of the cell in float64, written from its equations.
fn step(a: f64, b: f64, x: f64, h: f64) -> f64 {
    let u = a * h + x;
    let softplus = u.max(0.0) + (-u.abs()).exp().ln_1p();
    let pos = softplus + 0.5;
    let s = 0.2 * u * u + 0.05 * u * u * u + 0.1 / pos + 0.1 * pos.sqrt() + 0.1 * pos.powf(-1.5);
    let bh = b * h;
    let logsigmoid = -((-bh).max(0.0) + (-bh.abs()).exp().ln_1p());
    let t = 0.2 * (1.0 + pos).ln() + 0.1 * ((0.3 * u).exp() - 1.0) + 0.3 * libm::erf(u) + 0.2 * logsigmoid;
    let gelu = 0.5 * u * (1.0 + libm::erf(u / 2f64.sqrt()));
    let g = 0.3 * gelu + 0.2 * x.clamp(-0.5, 0.5) + 0.1 * bh.clamp(-0.3, 0.3);
    0.5 * (s + t + g).tanh() + 0.3 * h
}

/// The data in float64: `a`, `b`, `x` [B, T, H], `h0` [B, H].
#[derive(Clone)]
struct Point {
    a: Vec<f64>,
    b: Vec<f64>,
    x: Vec<f64>,
    h0: Vec<f64>,
}

/// Every output `[B, T, H]` from `point`.
fn reference(point: &Point, batch: usize, steps: usize) -> Vec<f64> {
    let mut out = vec![0.0; batch * steps * H];
    for s in 0..batch {
        let mut h: Vec<f64> = point.h0[s * H..(s + 1) * H].to_vec();
        for t in 0..steps {
            for (i, value) in h.iter_mut().enumerate() {
                let x = point.x[(s * steps + t) * H + i];
                *value = step(point.a[i], point.b[i], x, *value);
                out[(s * steps + t) * H + i] = *value;
            }
        }
    }
    out
}

/// One tensor of a [`Point`].
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
    let dims = cell.bind_dims(|_| Some(H as u64)).expect("binds");
    let params = random_params(&cell, &dims, seed).expect("params");
    let inputs = random_inputs(&cell, &dims, batch, steps, seed + 1).expect("inputs");
    let init = random_tensor(vec![batch, H], -0.5, 0.5, seed + 2).expect("init");
    let data = BoundData::bind(&cell, params, inputs, vec![("h".to_owned(), init)]).expect("binds");
    let param = |name: &str| widen(data.params()[cell.find_param(name).expect("param").index()].data());
    let point =
        Point { a: param("a"), b: param("b"), x: widen(data.inputs()[0].data()), h0: widen(data.inits()[0].data()) };
    Case { derived, data, point, batch, steps }
}

/// The worst relative error of `gradients` (of `sum(dout * h)`) against central
/// differences of [`reference`], along `g / |g| + r / |r|` for each tensor.
fn gradient_error(case: &Case, dout: &[f32], gradients: &GradientBuffers) -> (f64, String) {
    let loss = |point: &Point| -> f64 {
        reference(point, case.batch, case.steps).iter().zip(dout).map(|(o, &d)| o * f64::from(d)).sum()
    };
    let cell = &case.derived.cell;
    let tensors: [(&str, Vec<f64>, Field); 4] = [
        ("param.a", widen(&gradients.params[cell.find_param("a").expect("a").index()]), |p| &mut p.a),
        ("param.b", widen(&gradients.params[cell.find_param("b").expect("b").index()]), |p| &mut p.b),
        ("input.x", widen(&gradients.inputs[0]), |p| &mut p.x),
        ("init.h", widen(&gradients.inits[0]), |p| &mut p.h0),
    ];
    reference_gradient_error(&case.point, &tensors, |point, field| field(point), loss, 17)
}

fn random_dout(case: &Case) -> Vec<f32> {
    let mut rng = SplitMix64::new(5);
    (0..case.batch * case.steps * H).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

fn check(label: &str, case: &Case, outputs: &[Vec<f32>], gradients: &GradientBuffers) {
    let want = reference(&case.point, case.batch, case.steps);
    let error = output_relative_error(&outputs[0], &want);
    let tolerance = 2e-6 * case.steps as f64;
    assert!(error < tolerance, "{label}: outputs off by {error:.2e} (tolerance {tolerance:.1e})");
    let (error, worst) = gradient_error(case, &random_dout(case), gradients);
    assert!(error < 2e-3, "{label}: gradient error {error:.2e} at {worst}");
}

#[test]
fn the_functions_match_the_reference_on_the_cpu() {
    for steps in [1, 60] {
        let case = case(2, steps, 3 + steps as u64);
        let mut cell = CpuCell::compile(&case.derived, case.data.dims()).expect("compiles");
        cell.set_threads(2);
        for method in [Method::Sequential, Method::Newton] {
            let settings = NewtonSettings::default();
            let (outputs, gradients, report) =
                cell.backward(&case.data, &[random_dout(&case)], method, &settings).expect("backward runs");
            assert_eq!(report.method, method.name(), "the method asked for ran");
            let (forward, _) = cell.forward(&case.data, method, &settings).expect("forward runs");
            assert_eq!(forward, outputs, "the backward's outputs are the forward's");
            check(&format!("CPU {method:?} T={steps}"), &case, &outputs, &gradients);
        }
    }
}

#[test]
fn the_functions_match_the_reference_on_the_gpu() {
    let _one = support::one_at_a_time();
    let gpu = Gpu::open(None).unwrap_or_else(|e| panic!("tests need a GPU adapter (lavapipe in CI): {e}"));
    for steps in [1, 60] {
        let case = case(2, steps, 3 + steps as u64);
        let compiled = GpuCell::compile(&gpu, &case.derived, case.data.dims()).expect("compiles");
        for method in [Method::Sequential, Method::Newton] {
            let settings = NewtonSettings::default();
            let (outputs, gradients, report) =
                compiled.backward(&gpu, &case.data, &[random_dout(&case)], method, &settings).expect("backward runs");
            assert_eq!(report.method, method.name(), "the method asked for ran");
            check(&format!("GPU {method:?} T={steps}"), &case, &outputs, &gradients);
        }
    }
}
