//! ParaRNN's multi-head models (`para_gru_mh`, `para_lstm_cifg_mh`: heads of 512
//! channels, 2 at H = 1024) against a float64 implementation of the published
//! equations written here, independently of rnnc's compiler and interpreter:
//! forward on the GPU and the CPU by both methods, and gradients against central
//! differences of the float64 loss `sum(dout * h)`.

mod support;

use rnnc_compiler::{Derived, check_source, derive_cell};
use rnnc_runtime::cpu::CpuCell;
use rnnc_runtime::data::BoundData;
use rnnc_runtime::data::random::{random_inputs, random_params, random_tensor};
use rnnc_runtime::gpu::{Gpu, GpuCell};
use rnnc_runtime::{GradientBuffers, Method, NewtonSettings};
use support::gradients::widen;

const H: usize = 1024;
const HEAD: usize = 512;
const BATCH: usize = 2;
const STEPS: usize = 12;

/// A model's parameters by name, as float64.
struct Params<'a> {
    derived: &'a Derived,
    values: Vec<Vec<f64>>,
}

impl Params<'_> {
    fn of<'a>(derived: &'a Derived, data: &BoundData) -> Params<'a> {
        let values = data.params().iter().map(|t| t.data().iter().map(|&v| f64::from(v)).collect()).collect();
        Params { derived, values }
    }

    fn get(&self, name: &str) -> &[f64] {
        let index = self.derived.cell.params.values().position(|p| p.name == name).expect("a parameter of the cell");
        &self.values[index]
    }

    /// `B x` for a block-diagonal `B` stored `[H / 512, 512, 512]`: block g maps
    /// the input's head g (channels g 512 ..) onto the state's.
    fn heads(&self, name: &str, x: &[f64]) -> Vec<f64> {
        let blocks = self.get(name);
        (0..H)
            .map(|row| {
                let (g, i) = (row / HEAD, row % HEAD);
                (0..HEAD).map(|j| blocks[(g * HEAD + i) * HEAD + j] * x[g * HEAD + j]).sum()
            })
            .collect()
    }
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// ParaRNN's GRUDiagMH, one step: z, r gates and candidate from diagonal
/// recurrences and per-head input projections; h' = z hc + (1 - z) h.
fn gru_step(p: &Params<'_>, x: &[f64], state: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let h = &state[0];
    let (bz, br, bh) = (p.heads("Bz", x), p.heads("Br", x), p.heads("Bh", x));
    let next = (0..H)
        .map(|c| {
            let z = sigmoid(p.get("az")[c] * h[c] + bz[c] + p.get("bz")[c]);
            let r = sigmoid(p.get("ar")[c] * h[c] + br[c] + p.get("br")[c]);
            let candidate = (p.get("ah")[c] * h[c] * r + bh[c] + p.get("bh")[c]).tanh();
            z * candidate + (1.0 - z) * h[c]
        })
        .collect();
    vec![next]
}

/// ParaRNN's LSTMCIFGDiagMH, one step: forget gate with a peephole on the
/// previous cell state, input gate 1 - f, output gate with a peephole on the
/// new cell state; states (c, h).
fn lstm_step(p: &Params<'_>, x: &[f64], state: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let (c, h) = (&state[0], &state[1]);
    let (bf, bo, bc) = (p.heads("Bf", x), p.heads("Bo", x), p.heads("Bc", x));
    let mut next_c = vec![0.0; H];
    let mut next_h = vec![0.0; H];
    for k in 0..H {
        let f = sigmoid(p.get("af")[k] * h[k] + p.get("pf")[k] * c[k] + bf[k] + p.get("bf")[k]);
        let candidate = (p.get("ac")[k] * h[k] + bc[k] + p.get("bc")[k]).tanh();
        next_c[k] = f * c[k] + (1.0 - f) * candidate;
        let o = sigmoid(p.get("ao")[k] * h[k] + p.get("po")[k] * next_c[k] + bo[k] + p.get("bo")[k]);
        next_h[k] = o * next_c[k].tanh();
    }
    vec![next_c, next_h]
}

type Step = fn(&Params<'_>, &[f64], &[Vec<f64>]) -> Vec<Vec<f64>>;

/// The output `h` of every step, `[B, T, H]`, from the data's initial states.
fn reference(step: Step, p: &Params<'_>, data: &BoundData, inputs: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(BATCH * STEPS * H);
    for b in 0..BATCH {
        let mut state: Vec<Vec<f64>> =
            data.inits().iter().map(|t| t.data()[b * H..(b + 1) * H].iter().map(|&v| f64::from(v)).collect()).collect();
        for t in 0..STEPS {
            let x = &inputs[(b * STEPS + t) * H..][..H];
            state = step(p, x, &state);
            out.extend_from_slice(state.last().expect("h is the last state"));
        }
    }
    out
}

struct Model {
    name: &'static str,
    step: Step,
    derived: Derived,
    data: BoundData,
}

fn model(name: &'static str, step: Step) -> Model {
    let cell = check_source(rnnc_stdlib::get(name).expect("shipped").source).expect("checks").remove(0);
    let derived = derive_cell(&cell).expect("derives");
    let dims = cell.bind_dims(|d| (d == "H").then_some(H as u64)).expect("binds");
    let params = random_params(&cell, &dims, 5).expect("params");
    let inputs = random_inputs(&cell, &dims, BATCH, STEPS, 6).expect("inputs");
    let inits = cell
        .states
        .values()
        .enumerate()
        .map(|(i, s)| (s.name.clone(), random_tensor(vec![BATCH, H], -0.5, 0.5, 7 + i as u64).expect("init")))
        .collect();
    let data = BoundData::bind(&cell, params, inputs, inits).expect("binds");
    Model { name, step, derived, data }
}

fn models() -> [Model; 2] {
    [model("para_gru_mh", gru_step), model("para_lstm_cifg_mh", lstm_step)]
}

fn max_error(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    got.iter().zip(want).map(|(&g, &w)| (f64::from(g) - w).abs()).fold(0.0, f64::max)
}

#[test]
fn forward_matches_the_published_equations_on_gpu_and_cpu() {
    let _one = support::one_at_a_time();
    let gpu = Gpu::open(None).expect("a GPU adapter");
    let settings = NewtonSettings::default();
    for model in models() {
        let params = Params::of(&model.derived, &model.data);
        let want = reference(model.step, &params, &model.data, &widen(model.data.inputs()[0].data()));
        let compiled = GpuCell::compile(&gpu, &model.derived, model.data.dims()).expect("compiles");
        let cpu = CpuCell::compile(&model.derived, model.data.dims()).expect("compiles");
        for method in [Method::Newton, Method::Sequential] {
            let (outputs, report) = compiled.forward(&gpu, &model.data, method, &settings).expect("runs");
            assert_eq!(report.method, method.name(), "{}: the method asked for ran", model.name);
            let error = max_error(&outputs[0], &want);
            assert!(error < 1e-4, "{} GPU {method:?}: max error {error:.2e}", model.name);
            let (outputs, report) = cpu.forward(&model.data, method, &settings).expect("runs");
            assert_eq!(report.method, method.name(), "{}: the method asked for ran", model.name);
            let error = max_error(&outputs[0], &want);
            assert!(error < 1e-4, "{} CPU {method:?}: max error {error:.2e}", model.name);
        }
    }
}

/// Central differences of the float64 loss `sum(dout * h)` in one parameter or
/// input entry.
fn central_difference(model: &Model, douts: &[f64], target: Target) -> f64 {
    let eps = 1e-5;
    let loss = |delta: f64| {
        let mut params = Params::of(&model.derived, &model.data);
        let mut inputs = widen(model.data.inputs()[0].data());
        match target {
            Target::Param(p, i) => params.values[p][i] += delta,
            Target::Input(i) => inputs[i] += delta,
        }
        let h = reference(model.step, &params, &model.data, &inputs);
        h.iter().zip(douts).map(|(h, d)| h * d).sum::<f64>()
    };
    (loss(eps) - loss(-eps)) / (2.0 * eps)
}

#[derive(Clone, Copy, Debug)]
enum Target {
    /// Entry `i` of parameter `p` (in the cell's order).
    Param(usize, usize),
    /// Entry `i` of the input `x`.
    Input(usize),
}

/// Sampled entries: of every parameter, one in each head's block or half; of
/// the input, one per head of the first and last steps.
fn targets(model: &Model) -> Vec<Target> {
    let mut targets = Vec::new();
    for (p, tensor) in model.data.params().iter().enumerate() {
        let len = tensor.data().len();
        targets.push(Target::Param(p, 37 % len));
        targets.push(Target::Param(p, len - 1 - 41 % len));
    }
    let last = (BATCH * STEPS - 1) * H;
    targets.extend([
        Target::Input(3),
        Target::Input(HEAD + 5),
        Target::Input(last + 7),
        Target::Input(last + HEAD + 9),
    ]);
    targets
}

fn check_gradients(model: &Model, device: &str, douts: &[f64], grads: &GradientBuffers) {
    for target in targets(model) {
        let want = central_difference(model, douts, target);
        let got = match target {
            Target::Param(p, i) => grads.params[p][i],
            Target::Input(i) => grads.inputs[0][i],
        };
        let error = (f64::from(got) - want).abs() / want.abs().max(1e-2);
        assert!(error < 2e-3, "{} {device} {target:?}: {got} against {want}", model.name);
    }
}

#[test]
fn gradients_match_central_differences_on_gpu_and_cpu() {
    let _one = support::one_at_a_time();
    let gpu = Gpu::open(None).expect("a GPU adapter");
    let settings = NewtonSettings::default();
    for model in models() {
        let douts32 = random_tensor(vec![BATCH, STEPS, H], -1.0, 1.0, 9).expect("douts").data().to_vec();
        let douts = widen(&douts32);
        let compiled = GpuCell::compile(&gpu, &model.derived, model.data.dims()).expect("compiles");
        let (_, grads, report) = compiled
            .backward(&gpu, &model.data, std::slice::from_ref(&douts32), Method::Newton, &settings)
            .expect("runs");
        assert_eq!(report.method, "newton", "{}", model.name);
        check_gradients(&model, "GPU", &douts, &grads);
        let cpu = CpuCell::compile(&model.derived, model.data.dims()).expect("compiles");
        let (_, grads, report) =
            cpu.backward(&model.data, std::slice::from_ref(&douts32), Method::Newton, &settings).expect("runs");
        assert_eq!(report.method, "newton", "{}", model.name);
        check_gradients(&model, "CPU", &douts, &grads);
    }
}
