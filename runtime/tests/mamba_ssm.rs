//! `stdlib:mamba_ssm`, Mamba's selective SSM (S6; Gu and Dao, 2023) with a
//! matrix state `h: [D, N]`, through whole kernels on both back ends, forward
//! (both methods) and backward, against a float64 reference written here from
//! the paper's equations (not the interpreter), the state indexed `[d, n]`:
//! `dt = softplus(W_dt x + b_dt)`, `B = W_B x`, `C = W_C x`,
//! `h[d, n] <- exp(dt[d] A[d, n]) h[d, n] + dt[d] x[d] B[n]` with
//! `A = -exp(A_log)`, and `y[d] = sum_n h[d, n] C[n] + D_skip[d] x[d]`. The
//! outputs within `2e-6 * T` of the reference relative to their largest value,
//! every gradient against central differences of it (relative error below
//! 2e-3). `D != N`, so a transposed index would show. The state's 80
//! elements are more than one GPU thread holds whole: the GPU runs the cell in
//! lanes of whole rows, one row of `h` each, which the test asserts. Also: the
//! analysis proves the cell linear and diagonal, and the initial state binds as
//! `[B, D, N]` only.

mod support;

use rnnc_compiler::analyse::JacobianStructure;
use rnnc_compiler::backend::wgsl::{LaneMode, Target, WHOLE_LANE_VALUES};
use rnnc_compiler::{check_source, derive_cell};
use rnnc_runtime::cpu::CpuCell;
use rnnc_runtime::data::BoundData;
use rnnc_runtime::data::random::{random_inputs, random_params, random_tensor};
use rnnc_runtime::gpu::{Gpu, GpuCell};
use rnnc_runtime::{GradientBuffers, Method, NewtonSettings};
use support::gradients::{check_reference, linear_method, random_douts, reference_gradient_error, widen};

const D: usize = 20;
const N: usize = 4;

fn source() -> &'static str {
    rnnc_stdlib::get("mamba_ssm").expect("a stdlib cell").source
}

fn softplus(v: f64) -> f64 {
    v.max(0.0) + (-v.abs()).exp().ln_1p()
}

/// The data in float64.
#[derive(Clone)]
struct Point {
    w_dt: Vec<f64>,
    b_dt: Vec<f64>,
    w_b: Vec<f64>,
    w_c: Vec<f64>,
    a_log: Vec<f64>,
    d_skip: Vec<f64>,
    x: Vec<f64>,
    h0: Vec<f64>,
}

/// One step in float64: the next state `[D, N]` and `y` `[D]`.
fn step(p: &Point, x: &[f64], h: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let times = |w: &[f64], row: usize| -> f64 { (0..D).map(|j| w[row * D + j] * x[j]).sum() };
    let dt: Vec<f64> = (0..D).map(|d| softplus(times(&p.w_dt, d) + p.b_dt[d])).collect();
    let b: Vec<f64> = (0..N).map(|n| times(&p.w_b, n)).collect();
    let c: Vec<f64> = (0..N).map(|n| times(&p.w_c, n)).collect();
    let mut next = vec![0.0; D * N];
    let mut y = vec![0.0; D];
    for d in 0..D {
        for n in 0..N {
            let a = -p.a_log[d * N + n].exp();
            next[d * N + n] = (dt[d] * a).exp() * h[d * N + n] + dt[d] * x[d] * b[n];
            y[d] += next[d * N + n] * c[n];
        }
        y[d] += p.d_skip[d] * x[d];
    }
    (next, y)
}

/// The output `y` [B, T, D] from `point`.
fn reference(point: &Point, batch: usize, steps: usize) -> Vec<f64> {
    let mut ys = Vec::new();
    for s in 0..batch {
        let mut h = point.h0[s * D * N..(s + 1) * D * N].to_vec();
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
    let cell = check_source(source()).expect("checks").remove(0);
    let derived = derive_cell(&cell).expect("derives");
    let dims = cell.bind_dims(|name| Some(if name == "D" { D as u64 } else { N as u64 })).expect("binds");
    let params = random_params(&cell, &dims, seed).expect("params");
    let inputs = random_inputs(&cell, &dims, batch, steps, seed + 1).expect("inputs");
    let init = random_tensor(vec![batch, D, N], -0.5, 0.5, seed + 2).expect("init");
    let data = BoundData::bind(&cell, params, inputs, vec![("h".to_owned(), init)]).expect("binds");
    let param = |name: &str| widen(data.params()[cell.find_param(name).expect("param").index()].data());
    let point = Point {
        w_dt: param("W_dt"),
        b_dt: param("b_dt"),
        w_b: param("W_B"),
        w_c: param("W_C"),
        a_log: param("A_log"),
        d_skip: param("D_skip"),
        x: widen(data.inputs()[0].data()),
        h0: widen(data.inits()[0].data()),
    };
    Case { derived, data, point, batch, steps }
}

/// The worst relative error of `gradients` (of `sum(dy * y)`) against central
/// differences of [`reference`].
fn gradient_error(case: &Case, douts: &[Vec<f32>], gradients: &GradientBuffers) -> (f64, String) {
    let loss = |point: &Point| -> f64 {
        let ys = reference(point, case.batch, case.steps);
        ys.iter().zip(&douts[0]).map(|(v, &d)| v * f64::from(d)).sum::<f64>()
    };
    let cell = &case.derived.cell;
    let param = |name: &str| widen(&gradients.params[cell.find_param(name).expect("param").index()]);
    let tensors: [(&str, Vec<f64>, Field); 8] = [
        ("param.W_dt", param("W_dt"), |p| &mut p.w_dt),
        ("param.b_dt", param("b_dt"), |p| &mut p.b_dt),
        ("param.W_B", param("W_B"), |p| &mut p.w_b),
        ("param.W_C", param("W_C"), |p| &mut p.w_c),
        ("param.A_log", param("A_log"), |p| &mut p.a_log),
        ("param.D_skip", param("D_skip"), |p| &mut p.d_skip),
        ("input.x", widen(&gradients.inputs[0]), |p| &mut p.x),
        ("init.h", widen(&gradients.inits[0]), |p| &mut p.h0),
    ];
    reference_gradient_error(&case.point, &tensors, |point, field| field(point), loss, 17)
}

#[test]
fn mamba_ssm_is_proved_linear_and_diagonal_in_its_matrix_state() {
    let case = case(1, 1, 1);
    assert_eq!(case.derived.structure(), JacobianStructure::Diagonal, "{}", case.derived.jacobian.reason);
    assert!(case.derived.is_linear(), "h' = exp(dt * A) * h + outer(dt * x, B) is affine in h");
}

#[test]
fn the_initial_state_of_a_matrix_state_binds_as_batch_rows_cols() {
    let cell = check_source(source()).expect("checks").remove(0);
    let dims = cell.bind_dims(|name| Some(if name == "D" { D as u64 } else { N as u64 })).expect("binds");
    let params = random_params(&cell, &dims, 1).expect("params");
    assert_eq!(params["A_log"].shape(), &[D, N], "a [D, N] parameter used elementwise is stored [D, N]");
    let inputs = random_inputs(&cell, &dims, 2, 3, 2).expect("inputs");
    let flat = random_tensor(vec![2, D * N], -0.5, 0.5, 3).expect("init");
    let error =
        BoundData::bind(&cell, params, inputs, vec![("h".to_owned(), flat)]).expect_err("a flat state is refused");
    let message = error.to_string();
    assert!(message.contains("h") && message.contains("[B, D, N]"), "{message}");
}

#[test]
fn mamba_ssm_matches_the_reference_on_the_cpu() {
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

/// On the GPU in lanes of whole rows: one lane a row of `h`, workgroups of
/// the device's lanes (one on lavapipe) and of 8 lanes (`lanes=8`), whose
/// backward sums the lanes' shares of `B`'s and `C`'s cotangents over each
/// group of 8 (the last group holding 4 live lanes of 20).
#[test]
fn mamba_ssm_matches_the_reference_on_the_gpu() {
    let _one = support::one_at_a_time();
    let gpu = Gpu::open(None).unwrap_or_else(|e| panic!("tests need a GPU adapter (lavapipe in CI): {e}"));
    for (lanes, steps) in [(None, 1), (None, 60), (Some(8), 60)] {
        let case = case(2, steps, 3 + steps as u64);
        let douts = random_douts(&case.derived, &case.data, 5);
        let knobs = |target: &mut Target| target.newton_knobs.lanes = lanes;
        let compiled = GpuCell::compile_with(&gpu, &case.derived, case.data.dims(), knobs).expect("compiles");
        let plan = &compiled.kernels().plan;
        assert!((D * N) as u64 > WHOLE_LANE_VALUES, "more state than one thread holds whole");
        assert!(matches!(plan.mode, LaneMode::Rows { rows: 1, .. }), "lanes of whole rows: {:?}", plan.mode);
        assert_eq!(
            (plan.lanes, plan.unknowns, plan.jacobian_block),
            (D as u64, N as u64, 1),
            "a row a lane, its diagonal"
        );
        if let Some(lanes) = lanes {
            assert_eq!(compiled.kernels().newton.map(|shape| shape.lanes), Some(lanes), "workgroups of {lanes} lanes");
        }
        for method in [Method::Sequential, Method::Newton] {
            let settings = NewtonSettings::default();
            let (outputs, gradients, report) =
                compiled.backward(&gpu, &case.data, &douts, method, &settings).expect("backward runs");
            assert_eq!(report.method, linear_method(method), "the method asked for ran");
            check_reference(
                &format!("GPU {method:?} T={steps} lanes={lanes:?}"),
                case.steps,
                &outputs[0],
                &reference(&case.point, case.batch, case.steps),
                gradient_error(&case, &douts, &gradients),
            );
        }
    }
}
