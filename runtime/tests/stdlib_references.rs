//! Shipped cells, and cells that stress the solvers (linear ones solved by one
//! scan, state-free subgraphs: an MLP on the input, block matrices times an
//! input and a computed vector), against float64 references written here from
//! their papers' equations (not the interpreter): forward on both back ends by both methods
//! (outputs within `2e-6 * T` of the reference, relative to their largest
//! value), and every gradient (parameters as users store them, `scalar` ones as
//! one number; inputs; initial states) against central differences of the
//! reference (relative error below 2e-3).

mod support;

use std::collections::BTreeMap;

use rnnc_compiler::backend::wgsl::{LaneMode, Target};
use rnnc_compiler::{Derived, check_source, derive_cell};
use rnnc_runtime::cpu::CpuCell;
use rnnc_runtime::data::random::{SplitMix64, random_inputs, random_params, random_tensor};
use rnnc_runtime::data::{BoundData, Tensor};
use rnnc_runtime::gpu::{Gpu, GpuCell};
use rnnc_runtime::{GradientBuffers, Method, NewtonSettings};
use support::gradients::{reference_gradient_error, widen};
use support::relative_error;

/// Every tensor of one run in float64, as users store them: parameters (in
/// declaration order), inputs `[B, T, D]`, initial states `[B, H]`.
#[derive(Clone)]
struct Point {
    params: Vec<Vec<f64>>,
    inputs: Vec<Vec<f64>>,
    inits: Vec<Vec<f64>>,
}

/// A reference: the outputs `[B, T, H]` (each output, in order) of a point.
type Reference = fn(&Point, usize, usize, &Sizes) -> Vec<Vec<f64>>;

#[derive(Clone, Copy)]
struct Sizes {
    h: usize,
    d: usize,
}

/// `M v` for a row-major `[rows, v.len()]` matrix.
fn matvec(m: &[f64], v: &[f64]) -> Vec<f64> {
    m.chunks_exact(v.len()).map(|row| row.iter().zip(v).map(|(a, b)| a * b).sum()).collect()
}

/// coRNN (Rusch and Mishra, 2021), its IMEX step: params W, Z, V, b, dt,
/// gamma, eps; states y, z; output y.
fn cornn(point: &Point, batch: usize, steps: usize, sizes: &Sizes) -> Vec<Vec<f64>> {
    let (h, d) = (sizes.h, sizes.d);
    let [w, zm, v, b, dt, gamma, eps] = [0, 1, 2, 3, 4, 5, 6].map(|i| &point.params[i]);
    let (dt, gamma, eps) = (dt[0], gamma[0], eps[0]);
    let mut out = vec![0.0; batch * steps * h];
    for s in 0..batch {
        let mut y = point.inits[0][s * h..(s + 1) * h].to_vec();
        let mut z = point.inits[1][s * h..(s + 1) * h].to_vec();
        for t in 0..steps {
            let u = &point.inputs[0][(s * steps + t) * d..][..d];
            let (wy, zz, vu) = (matvec(w, &y), matvec(zm, &z), matvec(v, u));
            let z_next: Vec<f64> = (0..h)
                .map(|i| z[i] + dt * ((wy[i] + zz[i] + vu[i] + b[i]).tanh() - gamma * y[i] - eps * z[i]))
                .collect();
            let y_next: Vec<f64> = (0..h).map(|i| y[i] + dt * z_next[i]).collect();
            out[(s * steps + t) * h..][..h].copy_from_slice(&y_next);
            (y, z) = (y_next, z_next);
        }
    }
    vec![out]
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn logsigmoid(x: f64) -> f64 {
    -((-x).max(0.0) + (-x.abs()).exp().ln_1p())
}

/// `R v` for a `block[H, K]` matrix stored `[H/K, K, K]` (row `i`, column `j` of
/// block `g` at `R[g, i, j]`, so row `g K + i` of the matrix starts at
/// `(g K + i) K`).
fn block_matvec(r: &[f64], v: &[f64], k: usize) -> Vec<f64> {
    (0..v.len()).map(|row| (0..k).map(|j| r[row * k + j] * v[row / k * k + j]).sum()).collect()
}

/// minLSTM (Feng et al., 2024): params W_f, b_f, W_i, b_i, W_h, b_h; state h.
fn minlstm(point: &Point, batch: usize, steps: usize, sizes: &Sizes) -> Vec<Vec<f64>> {
    let (h, d) = (sizes.h, sizes.d);
    let [w_f, b_f, w_i, b_i, w_h, b_h] = [0, 1, 2, 3, 4, 5].map(|i| &point.params[i]);
    let mut out = vec![0.0; batch * steps * h];
    for s in 0..batch {
        let mut state = point.inits[0][s * h..(s + 1) * h].to_vec();
        for t in 0..steps {
            let x = &point.inputs[0][(s * steps + t) * d..][..d];
            let (pf, pi, ph) = (matvec(w_f, x), matvec(w_i, x), matvec(w_h, x));
            for k in 0..h {
                let (f, i) = (sigmoid(pf[k] + b_f[k]), sigmoid(pi[k] + b_i[k]));
                state[k] = f / (f + i) * state[k] + i / (f + i) * (ph[k] + b_h[k]);
            }
            out[(s * steps + t) * h..][..h].copy_from_slice(&state);
        }
    }
    vec![out]
}

/// A selective state-space model (Mamba's recurrence, diagonal, its decay and
/// input from the input alone): params W_a, b_a, W_b, W_c; state h; outputs
/// h and y = h' * silu(W_c x), with a = exp(-softplus(W_a x + b_a)),
/// h' = a h + (1 - a) W_b x.
fn selective_ssm(point: &Point, batch: usize, steps: usize, sizes: &Sizes) -> Vec<Vec<f64>> {
    let (h, d) = (sizes.h, sizes.d);
    let [w_a, b_a, w_b, w_c] = [0, 1, 2, 3].map(|i| &point.params[i]);
    let (mut hs, mut ys) = (vec![0.0; batch * steps * h], vec![0.0; batch * steps * h]);
    for s in 0..batch {
        let mut state = point.inits[0][s * h..(s + 1) * h].to_vec();
        for t in 0..steps {
            let x = &point.inputs[0][(s * steps + t) * d..][..d];
            let (pa, pb, pc) = (matvec(w_a, x), matvec(w_b, x), matvec(w_c, x));
            for k in 0..h {
                let softplus = (pa[k] + b_a[k]).exp().ln_1p();
                let a = (-softplus).exp();
                state[k] = a * state[k] + (1.0 - a) * pb[k];
                hs[(s * steps + t) * h + k] = state[k];
                ys[(s * steps + t) * h + k] = state[k] * pc[k] * sigmoid(pc[k]);
            }
        }
    }
    vec![hs, ys]
}

/// An MLP on the input feeding a diagonal recurrence: params W1, b1, W2, a;
/// h' = tanh(a h + W2 tanh(W1 x + b1)).
fn mlp_input(point: &Point, batch: usize, steps: usize, sizes: &Sizes) -> Vec<Vec<f64>> {
    let (h, d) = (sizes.h, sizes.d);
    let [w1, b1, w2, a] = [0, 1, 2, 3].map(|i| &point.params[i]);
    let mut out = vec![0.0; batch * steps * h];
    for s in 0..batch {
        let mut state = point.inits[0][s * h..(s + 1) * h].to_vec();
        for t in 0..steps {
            let x = &point.inputs[0][(s * steps + t) * d..][..d];
            let hidden: Vec<f64> = matvec(w1, x).iter().zip(b1).map(|(p, b)| (p + b).tanh()).collect();
            let mixed = matvec(w2, &hidden);
            for k in 0..h {
                state[k] = (a[k] * state[k] + mixed[k]).tanh();
            }
            out[(s * steps + t) * h..][..h].copy_from_slice(&state);
        }
    }
    vec![out]
}

/// The cell `mlp_input` computes.
const MLP_INPUT: &str = "cell mlp_input {
    dim H;
    dim D;
    input x: [D];
    state h: [H];
    param W1: [H, D];  param b1: [H];
    param W2: [H, H];
    param a: [H];
    h' = tanh(a * h + W2 @ tanh(W1 @ x + b1));
    output h;
}";

/// A three-layer MLP on the input, of width `D` (not `H`), feeding a gate of a
/// diagonal recurrence: params W1, b1, W2, b2, W3, a, b3;
/// u = tanh(W1 x + b1), v = tanh(W2 u + b2), z = sigmoid(a h + W3 v + b3),
/// h' = z h + (1 - z) v3 with v3 = W3 v. Two stages on the GPU (u, then v).
fn mlp_deep(point: &Point, batch: usize, steps: usize, sizes: &Sizes) -> Vec<Vec<f64>> {
    let (h, d) = (sizes.h, sizes.d);
    let [w1, b1, w2, b2, w3, a, b3] = [0, 1, 2, 3, 4, 5, 6].map(|i| &point.params[i]);
    let layer = |w: &[f64], b: &[f64], v: &[f64]| -> Vec<f64> {
        matvec(w, v).iter().zip(b).map(|(p, b)| (p + b).tanh()).collect()
    };
    let mut out = vec![0.0; batch * steps * h];
    for s in 0..batch {
        let mut state = point.inits[0][s * h..(s + 1) * h].to_vec();
        for t in 0..steps {
            let x = &point.inputs[0][(s * steps + t) * d..][..d];
            let v = layer(w2, b2, &layer(w1, b1, x));
            let top = matvec(w3, &v);
            for k in 0..h {
                let z = sigmoid(a[k] * state[k] + top[k] + b3[k]);
                state[k] = z * state[k] + (1.0 - z) * top[k];
            }
            out[(s * steps + t) * h..][..h].copy_from_slice(&state);
        }
    }
    vec![out]
}

/// The cell `mlp_deep` computes.
const MLP_DEEP: &str = "cell mlp_deep {
    dim H;
    dim D;
    input x: [D];
    state h: [H];
    param W1: [D, D];  param b1: [D];
    param W2: [D, D];  param b2: [D];
    param W3: [H, D];
    param a: [H];  param b3: [H];
    let v = tanh(W2 @ tanh(W1 @ x + b1) + b2);
    let z = sigmoid(a * h + W3 @ v + b3);
    h' = z * h + (1 - z) * (W3 @ v);
    output h;
}";

/// Block matrices times an input and times a computed vector of it: params U,
/// V (`block[H, 4]`), a; h' = tanh(a h + U x + V sigmoid(U x)).
fn block_input(point: &Point, batch: usize, steps: usize, sizes: &Sizes) -> Vec<Vec<f64>> {
    let h = sizes.h;
    let [u, v, a] = [0, 1, 2].map(|i| &point.params[i]);
    let mut out = vec![0.0; batch * steps * h];
    for s in 0..batch {
        let mut state = point.inits[0][s * h..(s + 1) * h].to_vec();
        for t in 0..steps {
            let x = &point.inputs[0][(s * steps + t) * h..][..h];
            let ux = block_matvec(u, x, 4);
            let gate: Vec<f64> = ux.iter().map(|&p| sigmoid(p)).collect();
            let vg = block_matvec(v, &gate, 4);
            for k in 0..h {
                state[k] = (a[k] * state[k] + ux[k] + vg[k]).tanh();
            }
            out[(s * steps + t) * h..][..h].copy_from_slice(&state);
        }
    }
    vec![out]
}

/// The cell `block_input` computes.
const BLOCK_INPUT: &str = "cell block_input {
    dim H;
    input x: [H];
    state h: [H];
    param U: block[H, 4];
    param V: block[H, 4];
    param a: [H];
    h' = tanh(a * h + U @ x + V @ sigmoid(U @ x));
    output h;
}";

/// The cell `selective_ssm` computes.
const SELECTIVE_SSM: &str = "cell selective_ssm {
    dim H;
    dim D;
    input x: [D];
    state h: [H];
    param W_a: [H, D];  param b_a: [H];
    param W_b: [H, D];
    param W_c: [H, D];
    let a = exp(-softplus(W_a @ x + b_a));
    h' = a * h + (1 - a) * (W_b @ x);
    output h;
    output y = h' * silu(W_c @ x);
}";

/// sLSTM (Beck et al., 2024) with the stabiliser, as the authors' code: params
/// (W, R, b) for z, i, f, o (R in heads of 2 channels); states c, n, m, h;
/// output h.
fn slstm(point: &Point, batch: usize, steps: usize, sizes: &Sizes) -> Vec<Vec<f64>> {
    slstm_heads(point, batch, steps, sizes, 2)
}

/// [`slstm`] with heads of 3 channels (the shipped cell's `block[H, 2]`s made
/// `block[H, 3]`: [`slstm_source`]; Jacobian blocks of 12 unknowns, the most
/// lavapipe's Newton kernel takes).
fn slstm_heads_of_3(point: &Point, batch: usize, steps: usize, sizes: &Sizes) -> Vec<Vec<f64>> {
    slstm_heads(point, batch, steps, sizes, 3)
}

/// [`slstm`] with heads of `head` channels.
fn slstm_heads(point: &Point, batch: usize, steps: usize, sizes: &Sizes, head: usize) -> Vec<Vec<f64>> {
    let (hn, d) = (sizes.h, sizes.d);
    let p = |i: usize| &point.params[i];
    let mut out = vec![0.0; batch * steps * hn];
    for s in 0..batch {
        let init = |k: usize| point.inits[k][s * hn..(s + 1) * hn].to_vec();
        let (mut c, mut n, mut m, mut h) = (init(0), init(1), init(2), init(3));
        for t in 0..steps {
            let x = &point.inputs[0][(s * steps + t) * d..][..d];
            let gate = |g: usize| -> Vec<f64> {
                let (wx, rh) = (matvec(p(3 * g), x), block_matvec(p(3 * g + 1), &h, head));
                (0..hn).map(|k| wx[k] + rh[k] + p(3 * g + 2)[k]).collect()
            };
            let (zr, ir, fr, or) = (gate(0), gate(1), gate(2), gate(3));
            for k in 0..hn {
                let (z, it, ft, o) = (zr[k].tanh(), ir[k], logsigmoid(fr[k]), sigmoid(or[k]));
                let m_next = (ft + m[k]).max(it);
                let (i, f) = ((it - m_next).exp(), (ft + m[k] - m_next).exp());
                c[k] = f * c[k] + i * z;
                n[k] = f * n[k] + i;
                m[k] = m_next;
                h[k] = o * (c[k] / n[k]);
            }
            out[(s * steps + t) * hn..][..hn].copy_from_slice(&h);
        }
    }
    vec![out]
}

struct Case {
    derived: Derived,
    data: BoundData,
    point: Point,
    batch: usize,
    steps: usize,
    sizes: Sizes,
}

/// A shipped cell with random data: initial states U(-0.5, 0.5), or U(0.5, 1.5)
/// for the states named in `positive` (sLSTM's normaliser n, which the paper
/// starts at zero and keeps positive).
fn stdlib_case(source: &str, sizes: Sizes, positive: &[&str], batch: usize, steps: usize, seed: u64) -> Case {
    scaled_case(source, sizes, positive, (batch, steps), seed, 1.0)
}

/// [`stdlib_case`] with every parameter multiplied by `param_scale`.
fn scaled_case(
    source: &str,
    sizes: Sizes,
    positive: &[&str],
    (batch, steps): (usize, usize),
    seed: u64,
    param_scale: f32,
) -> Case {
    let cell = check_source(source).expect("checks").remove(0);
    let derived = derive_cell(&cell).expect("derives");
    let dims = cell.bind_dims(|n| Some(if n == "D" { sizes.d } else { sizes.h } as u64)).expect("binds");
    let mut params: BTreeMap<String, Tensor> = random_params(&cell, &dims, seed).expect("params");
    params.values_mut().for_each(|t| t.data_mut().iter_mut().for_each(|v| *v *= param_scale));
    let inputs = random_inputs(&cell, &dims, batch, steps, seed + 1).expect("inputs");
    let inits: Vec<(String, Tensor)> = cell
        .states
        .values()
        .enumerate()
        .map(|(i, s)| {
            let h = dims.of(s.size) as usize;
            let (low, high) = if positive.contains(&s.name.as_str()) { (0.5, 1.5) } else { (-0.5, 0.5) };
            (s.name.clone(), random_tensor(vec![batch, h], low, high, seed + 2 + i as u64).expect("init"))
        })
        .collect();
    let point = Point {
        params: cell.params.values().map(|p| widen(params[&p.name].data())).collect(),
        inputs: inputs.iter().map(|(_, t)| widen(t.data())).collect(),
        inits: inits.iter().map(|(_, t)| widen(t.data())).collect(),
    };
    let data = BoundData::bind(&cell, params, inputs, inits).expect("binds");
    Case { derived, data, point, batch, steps, sizes }
}

fn random_douts(case: &Case) -> Vec<Vec<f32>> {
    let mut rng = SplitMix64::new(5);
    let cell = &case.derived.cell;
    cell.outputs
        .values()
        .map(|o| {
            (0..case.batch * case.steps * case.data.dims().of(o.size) as usize)
                .map(|_| rng.uniform(-1.0, 1.0))
                .collect()
        })
        .collect()
}

/// Tensor `i` of kind `kind` (0 parameters, 1 inputs, 2 initial states) of `point`.
fn tensor_mut(point: &mut Point, kind: usize, i: usize) -> &mut Vec<f64> {
    match kind {
        0 => &mut point.params[i],
        1 => &mut point.inputs[i],
        _ => &mut point.inits[i],
    }
}

/// The worst relative error of `gradients` against central differences of
/// `reference` along `g / |g| + r / |r|`, per tensor.
fn gradient_error(case: &Case, reference: Reference, douts: &[Vec<f32>], gradients: &GradientBuffers) -> (f64, String) {
    let loss = |point: &Point| -> f64 {
        reference(point, case.batch, case.steps, &case.sizes)
            .iter()
            .zip(douts)
            .map(|(o, d)| o.iter().zip(d).map(|(o, &d)| o * f64::from(d)).sum::<f64>())
            .sum()
    };
    let cell = &case.derived.cell;
    let mut tensors: Vec<(String, Vec<f64>, (usize, usize))> = Vec::new();
    for (i, p) in cell.params.values().enumerate() {
        tensors.push((format!("param.{}", p.name), widen(&gradients.params[i]), (0, i)));
    }
    for (i, x) in cell.inputs.values().enumerate() {
        tensors.push((format!("input.{}", x.name), widen(&gradients.inputs[i]), (1, i)));
    }
    for (i, s) in cell.states.values().enumerate() {
        tensors.push((format!("init.{}", s.name), widen(&gradients.inits[i]), (2, i)));
    }
    reference_gradient_error(&case.point, &tensors, |point, &(kind, i)| tensor_mut(point, kind, i), loss, 17)
}

fn check(
    label: &str,
    case: &Case,
    reference: Reference,
    outputs: &[Vec<f32>],
    douts: &[Vec<f32>],
    gradients: &GradientBuffers,
) {
    let want = reference(&case.point, case.batch, case.steps, &case.sizes);
    let error = relative_error(outputs, &want);
    let tolerance = 2e-6 * case.steps as f64;
    assert!(error < tolerance, "{label}: outputs off by {error:.2e} (tolerance {tolerance:.1e})");
    let (error, worst) = gradient_error(case, reference, douts, gradients);
    assert!(error < 2e-3, "{label}: gradient error {error:.2e} at {worst}");
}

/// A cell checked here (shipped, or `selective_ssm`): its name, reference,
/// sizes, states with positive initial values, and the methods it is run with,
/// each with the method that must run (Newton on a linear cell is one scan).
struct Checked {
    name: &'static str,
    source: &'static str,
    reference: Reference,
    sizes: Sizes,
    positive: &'static [&'static str],
    methods: &'static [(Method, &'static str)],
}

fn cells() -> Vec<Checked> {
    let both: &'static [(Method, &str)] = &[(Method::Sequential, "sequential"), (Method::Newton, "newton")];
    let linear: &'static [(Method, &str)] = &[(Method::Sequential, "sequential"), (Method::Newton, "scan")];
    let (small, eight, positive) = (Sizes { h: 5, d: 3 }, Sizes { h: 8, d: 3 }, &["n"]);
    let shipped = |name: &str| rnnc_stdlib::get(name).expect("shipped").source;
    vec![
        Checked {
            name: "cornn",
            source: shipped("cornn"),
            reference: cornn,
            sizes: Sizes { h: 4, d: 3 },
            positive: &[],
            methods: both,
        },
        Checked {
            name: "minlstm",
            source: shipped("minlstm"),
            reference: minlstm,
            sizes: small,
            positive: &[],
            methods: linear,
        },
        Checked {
            name: "selective_ssm",
            source: SELECTIVE_SSM,
            reference: selective_ssm,
            sizes: small,
            positive: &[],
            methods: linear,
        },
        Checked { name: "slstm", source: shipped("slstm"), reference: slstm, sizes: eight, positive, methods: both },
        Checked {
            name: "mlp_input",
            source: MLP_INPUT,
            reference: mlp_input,
            sizes: small,
            positive: &[],
            methods: both,
        },
        Checked {
            name: "block_input",
            source: BLOCK_INPUT,
            reference: block_input,
            sizes: eight,
            positive: &[],
            methods: both,
        },
        Checked { name: "mlp_deep", source: MLP_DEEP, reference: mlp_deep, sizes: small, positive: &[], methods: both },
    ]
}

/// Products of computed state-free vectors (an MLP on the input, two layers
/// deep; a block matrix times a gate of the input) are staged on the GPU: the
/// plan keeps independent lanes (`LaneMode::Blocks`, not one whole lane) with
/// its stages, and Newton runs in them (its report, no fallback); outputs and
/// every gradient (`W1`, `b1`, `W2`, ..., the inputs, the initial states)
/// match the float64 references at T = 300 (the every-cell test above runs
/// T = 1 and 50 by both methods). At H = 24 the MLP cell has more unknowns
/// than a whole lane's Newton takes (16): it ran sequentially before the
/// stages. A batch split into passes of one sequence gives the same.
#[test]
fn staged_products_keep_the_lanes_on_the_gpu() {
    let _one = support::one_at_a_time();
    let gpu = Gpu::open(None).unwrap_or_else(|e| panic!("tests need a GPU adapter (lavapipe in CI): {e}"));
    let staged = ["mlp_input", "block_input", "mlp_deep"];
    let mut runs: Vec<(Checked, usize, Option<usize>)> =
        cells().into_iter().filter(|c| staged.contains(&c.name)).map(|c| (c, 300, None)).collect();
    let wide = cells().into_iter().find(|c| c.name == "mlp_input").expect("listed");
    runs.push((Checked { sizes: Sizes { h: 24, d: 3 }, ..wide }, 100, None));
    let deep = cells().into_iter().find(|c| c.name == "mlp_deep").expect("listed");
    runs.push((deep, 100, Some(1)));
    for (Checked { name, source, reference, sizes, positive, .. }, steps, chunk) in runs {
        let label = format!("{name} GPU staged H={} T={steps} passes of {chunk:?}", sizes.h);
        let case = stdlib_case(source, sizes, positive, 2, steps, 23);
        let mut compiled = GpuCell::compile(&gpu, &case.derived, case.data.dims()).expect("compiles");
        compiled.set_max_batch_chunk(chunk);
        let kernels = compiled.kernels();
        assert!(matches!(kernels.plan.mode, LaneMode::Blocks { .. }), "{label}: {:?}", kernels.plan.whole);
        assert!(kernels.plan.lanes > 1 && kernels.plan.whole.is_none(), "{label}");
        let stages: Vec<u32> = kernels.plan.cell.stages.stages.iter().map(|s| s.level).collect();
        let want: &[u32] = if name == "mlp_deep" { &[1, 2] } else { &[1] };
        assert_eq!(stages, want, "{label}: its stages");
        assert!(kernels.newton.is_some(), "{label}: {:?}", kernels.no_newton);
        let douts = random_douts(&case);
        let settings = NewtonSettings::default();
        let (outputs, gradients, report) =
            compiled.backward(&gpu, &case.data, &douts, Method::Newton, &settings).expect("backward runs");
        assert_eq!(report.method, "newton", "{label}: {report:?}");
        assert!(report.converged && report.fallback_segments == 0, "{label}: {report:?}");
        assert_eq!(report.segment_methods.sequential, 0, "{label}: {report:?}");
        check(&label, &case, reference, &outputs, &douts, &gradients);
    }
}

#[test]
fn shipped_cells_match_their_papers_on_the_cpu() {
    for Checked { name, source, reference, sizes, positive, methods } in cells() {
        for steps in [1, 50] {
            let case = stdlib_case(source, sizes, positive, 2, steps, 11 + steps as u64);
            let mut cell = CpuCell::compile(&case.derived, case.data.dims()).expect("compiles");
            cell.set_threads(2);
            let douts = random_douts(&case);
            for &(method, ran) in methods {
                let settings = NewtonSettings::default();
                let (outputs, gradients, report) =
                    cell.backward(&case.data, &douts, method, &settings).expect("backward runs");
                assert_eq!(report.method, ran, "{name}: {method:?}");
                check(&format!("{name} CPU {method:?} T={steps}"), &case, reference, &outputs, &douts, &gradients);
            }
        }
    }
}

#[test]
fn shipped_cells_match_their_papers_on_the_gpu() {
    let _one = support::one_at_a_time();
    let gpu = Gpu::open(None).unwrap_or_else(|e| panic!("tests need a GPU adapter (lavapipe in CI): {e}"));
    for Checked { name, source, reference, sizes, positive, methods } in cells() {
        for steps in [1, 50] {
            let case = stdlib_case(source, sizes, positive, 2, steps, 11 + steps as u64);
            let compiled = GpuCell::compile(&gpu, &case.derived, case.data.dims()).expect("compiles");
            let douts = random_douts(&case);
            for &(method, ran) in methods {
                let settings = NewtonSettings::default();
                let (outputs, gradients, report) =
                    compiled.backward(&gpu, &case.data, &douts, method, &settings).expect("backward runs");
                assert_eq!(report.method, ran, "{name}: {method:?}");
                check(&format!("{name} GPU {method:?} T={steps}"), &case, reference, &outputs, &douts, &gradients);
            }
        }
    }
}

/// Linear cells (minLSTM, a selective SSM) are solved by one scan on both back
/// ends: the report says `scan`, one iteration, converged, no fallback, even
/// with an iteration cap of 1 (which plain Newton could not meet: its first
/// update is measured from the initial guess); the outputs match the float64
/// references within `2e-6 * T` at T = 200 and T = 4096.
#[test]
fn linear_cells_are_solved_by_one_scan() {
    let _one = support::one_at_a_time();
    let gpu = Gpu::open(None).unwrap_or_else(|e| panic!("tests need a GPU adapter (lavapipe in CI): {e}"));
    let capped = NewtonSettings { max_iterations: 1, ..NewtonSettings::default() };
    for Checked { name, source, reference, sizes, positive, .. } in
        cells().into_iter().filter(|c| c.methods[1].1 == "scan")
    {
        for (batch, steps) in [(2, 200), (1, 4096)] {
            let case = stdlib_case(source, sizes, positive, batch, steps, 41 + steps as u64);
            assert!(case.derived.is_linear(), "{name} is proved linear");
            let want = reference(&case.point, case.batch, case.steps, &case.sizes);
            let mut cpu = CpuCell::compile(&case.derived, case.data.dims()).expect("compiles");
            cpu.set_threads(2);
            let gpu_cell = GpuCell::compile(&gpu, &case.derived, case.data.dims()).expect("compiles");
            for settings in [NewtonSettings::default(), capped] {
                let runs = [
                    ("CPU", cpu.forward(&case.data, Method::Newton, &settings).expect("runs")),
                    ("GPU", gpu_cell.forward(&gpu, &case.data, Method::Newton, &settings).expect("runs")),
                ];
                for (backend, (outputs, report)) in runs {
                    let label = format!("{name} {backend} T={steps} cap {}", settings.max_iterations);
                    assert_eq!(report.method, "scan", "{label}: {report:?}");
                    assert!(report.method_reason.contains("linear"), "{label}: {report:?}");
                    assert_eq!(report.iterations, 1, "{label}: {report:?}");
                    assert!(report.converged && report.fallback_segments == 0, "{label}: {report:?}");
                    let error = relative_error(&outputs, &want);
                    let tolerance = 2e-6 * steps as f64;
                    assert!(error < tolerance, "{label}: outputs off by {error:.2e} (tolerance {tolerance:.1e})");
                }
            }
        }
    }
}

/// The shipped sLSTM with heads of `head` channels.
fn slstm_source(head: usize) -> String {
    rnnc_stdlib::get("slstm").expect("shipped").source.replace("block[H, 2]", &format!("block[H, {head}]"))
}

/// sLSTM, its vector form (heads of 2) and a per-head form (heads of 3), at
/// parameters twice the shipped random ones, where plain Newton fails (its
/// update grows or overflows) in most segments: damped Newton (`Damping`)
/// solves every segment in parallel at T = 200 and T = 4096, on the CPU and
/// the GPU, without the sequential fallback, and the report counts the damped
/// iterations; the outputs match the float64 reference within `2e-6 * T`.
#[test]
fn slstm_converges_in_parallel_with_damping() {
    let _one = support::one_at_a_time();
    let gpu = Gpu::open(None).unwrap_or_else(|e| panic!("tests need a GPU adapter (lavapipe in CI): {e}"));
    // Heads, reference, sizes and the data's seed (one where plain Newton fails
    // on both back ends, whose segments differ).
    let heads: [(usize, Reference, Sizes, u64); 2] =
        [(2, slstm, Sizes { h: 8, d: 8 }, 1), (3, slstm_heads_of_3, Sizes { h: 12, d: 8 }, 4)];
    for (head, reference, sizes, seed) in heads {
        let source = slstm_source(head);
        for (batch, steps) in [(2, 200), (1, 4096)] {
            let case = scaled_case(&source, sizes, &["n"], (batch, steps), seed, 2.0);
            let want = reference(&case.point, case.batch, case.steps, &case.sizes);
            let mut cpu = CpuCell::compile(&case.derived, case.data.dims()).expect("compiles");
            cpu.set_threads(2);
            // The GPU kernel's initial guess from the segment's start state in
            // one sweep, as the CPU's, on which plain Newton fails here (the
            // chained guess and its second sweep, the defaults, make plain
            // Newton converge on some of these cases on an H200:
            // docs/measurements/h200-run65).
            let from_start = |target: &mut Target| {
                target.newton_knobs.chained = false;
                target.newton_knobs.sweeps = 1;
            };
            let gpu_cell = GpuCell::compile_with(&gpu, &case.derived, case.data.dims(), from_start).expect("compiles");
            let chained = GpuCell::compile(&gpu, &case.derived, case.data.dims()).expect("compiles");
            let settings = NewtonSettings::default();
            let runs = [
                ("CPU", cpu.forward(&case.data, Method::Newton, &settings).expect("runs")),
                ("GPU", gpu_cell.forward(&gpu, &case.data, Method::Newton, &settings).expect("runs")),
                ("GPU, chained guess", chained.forward(&gpu, &case.data, Method::Newton, &settings).expect("runs")),
            ];
            for (backend, (outputs, report)) in runs {
                let label = format!("sLSTM heads of {head} {backend} T={steps}");
                assert_eq!(report.method, "newton", "{label}: {report:?}");
                if backend == "GPU, chained guess" {
                    // Solved in parallel, damped or not (on a CPU device, where
                    // nothing damps, a failing segment falls back, exactly).
                    if !gpu.is_cpu() {
                        assert!(report.converged && report.fallback_segments == 0, "{label}: {report:?}");
                    }
                } else if backend == "GPU" && gpu.is_cpu() {
                    // No damping on a CPU device (`GpuCell::damps`): a failing
                    // segment falls back, exactly (the outputs are checked below).
                    assert_eq!(report.damped_iterations, 0, "{label}: {report:?}");
                } else {
                    assert!(report.converged && report.fallback_segments == 0, "{label}: {report:?}");
                    assert_eq!(report.segment_methods.sequential, 0, "{label}: {report:?}");
                    assert!(
                        report.damped_iterations > 0,
                        "{label}: plain Newton sufficed, so this tests nothing: {report:?}"
                    );
                }
                let error = relative_error(&outputs, &want);
                let tolerance = 2e-6 * steps as f64;
                assert!(error < tolerance, "{label}: outputs off by {error:.2e} (tolerance {tolerance:.1e})");
            }
        }
    }
}

/// Cells on which plain Newton converges (ParaRNN's GRU and LSTM, and sLSTM at
/// its shipped random parameters) take no damped iteration on either back end.
#[test]
fn plain_newton_cells_take_no_damped_iterations() {
    let _one = support::one_at_a_time();
    let gpu = Gpu::open(None).unwrap_or_else(|e| panic!("tests need a GPU adapter (lavapipe in CI): {e}"));
    for (name, positive) in [("para_gru", &[][..]), ("para_lstm", &[][..]), ("slstm", &["n"][..])] {
        let source = rnnc_stdlib::get(name).expect("shipped").source;
        let case = stdlib_case(source, Sizes { h: 8, d: 8 }, positive, 2, 512, 3);
        let mut cpu = CpuCell::compile(&case.derived, case.data.dims()).expect("compiles");
        cpu.set_threads(2);
        let gpu_cell = GpuCell::compile(&gpu, &case.derived, case.data.dims()).expect("compiles");
        let settings = NewtonSettings::default();
        let runs = [
            ("CPU", cpu.forward(&case.data, Method::Newton, &settings).expect("runs").1),
            ("GPU", gpu_cell.forward(&gpu, &case.data, Method::Newton, &settings).expect("runs").1),
        ];
        for (backend, report) in runs {
            assert_eq!(report.method, "newton", "{name} {backend}: {report:?}");
            assert!(report.converged, "{name} {backend}: {report:?}");
            assert_eq!(report.damped_iterations, 0, "{name} {backend}: {report:?}");
        }
    }
}
