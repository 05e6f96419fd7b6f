//! Gradients of a backend against central differences of the float64 reference.
//!
//! The loss is `L = sum over outputs o of sum(dout_o * o)`, evaluated by the
//! compiler's interpreter in float64. Every gradient tensor (each parameter, each
//! input, each initial state) is checked along its own direction
//! `v = g / |g| + r / |r|`, with `g` the backend's gradient and `r` random: the
//! backend's `g . v` against `(L(+eps v) - L(-eps v)) / (2 eps)`. The gradient's
//! own direction keeps the directional derivative away from cancellation (its
//! size is about `|g|`), the random one catches a gradient that is zero where it
//! should not be. The error is relative to `max(|numeric|, 1e-6)`. A `scalar`
//! parameter's gradient is one number; moving it moves every entry of the
//! repeated tensor the interpreter reads (`BoundData::params`) alike.

use rnnc_compiler::Derived;
use rnnc_compiler::interp::{Interpreter, ParamValues, Sequences};
use rnnc_runtime::GradientBuffers;
use rnnc_runtime::data::BoundData;
use rnnc_runtime::data::random::SplitMix64;

/// Random output cotangents, one `[B, T, size]` buffer per output, entries in [-1, 1].
pub fn random_douts(derived: &Derived, data: &BoundData, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = SplitMix64::new(seed);
    let rows = data.batch() * data.seq_len();
    derived
        .cell
        .outputs
        .values()
        .map(|o| (0..rows * data.dims().of(o.size) as usize).map(|_| rng.uniform(-1.0, 1.0)).collect())
        .collect()
}

/// A one-output cell's outputs and gradients against a hand-written float64
/// reference: the output within `2e-6 * steps` relative (errors grow like
/// eps * T), the gradients (`gradient_error`'s worst relative error and where)
/// within 2e-3 of central differences.
pub fn check_reference(label: &str, steps: usize, output: &[f32], reference: &[f64], gradient_error: (f64, String)) {
    let tolerance = 2e-6 * steps as f64;
    let error = super::output_relative_error(output, reference);
    assert!(error < tolerance, "{label}: output off by {error:.2e} (tolerance {tolerance:.1e})");
    let (error, worst) = gradient_error;
    assert!(error < 2e-3, "{label}: gradient error {error:.2e} at {worst}");
}

/// The method that runs when `method` is asked for on a cell linear in its
/// states: Newton is its one scan.
pub fn linear_method(method: rnnc_runtime::Method) -> &'static str {
    match method {
        rnnc_runtime::Method::Newton => "scan",
        other => other.name(),
    }
}

/// `values` in float64.
pub fn widen(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&v| f64::from(v)).collect()
}

/// The data of a case in float64, movable along a direction.
struct Point {
    params: Vec<Vec<f64>>,
    inputs: Vec<Vec<f64>>,
    inits: Vec<Vec<f64>>,
}

/// Which tensor a direction moves.
#[derive(Clone, Copy, Debug)]
enum Which {
    Param(usize),
    Input(usize),
    Init(usize),
}

impl Point {
    fn tensor_mut(&mut self, which: Which) -> &mut Vec<f64> {
        match which {
            Which::Param(i) => &mut self.params[i],
            Which::Input(i) => &mut self.inputs[i],
            Which::Init(i) => &mut self.inits[i],
        }
    }
}

fn loss(derived: &Derived, data: &BoundData, point: &Point, douts: &[Vec<f32>]) -> f64 {
    let cell = &derived.cell;
    let params = ParamValues::from_fn(cell, data.dims(), |p, i| point.params[p.index()][i]);
    let interp = Interpreter::new(cell, &derived.ir, data.dims(), &params).expect("interpreter");
    let inputs: Vec<&[f64]> = point.inputs.iter().map(Vec::as_slice).collect();
    let inits: Vec<Option<&[f64]>> = point.inits.iter().map(|v| Some(v.as_slice())).collect();
    let run = interp
        .run_sequence(&Sequences { batch: data.batch(), steps: data.seq_len(), inputs: &inputs, initial: &inits })
        .expect("reference runs");
    run.outputs.iter().zip(douts).map(|(o, d)| o.iter().zip(d).map(|(&o, &d)| o * f64::from(d)).sum::<f64>()).sum()
}

/// Checks every gradient in `gradients` (of `sum(douts * outputs)` over `data`)
/// against central differences; returns the worst relative error and what it
/// was, or the first tensor whose gradient has the wrong length.
pub fn gradient_error(
    derived: &Derived,
    data: &BoundData,
    douts: &[Vec<f32>],
    gradients: &GradientBuffers,
    seed: u64,
) -> Result<(f64, String), String> {
    gradient_errors(derived, data, douts, &[gradients], seed).remove(0)
}

/// The direction `g / |g| + r / |r|` along which `gradient` (`g`) is checked,
/// `r` drawn from `rng` in [-1, 1].
pub fn check_direction(gradient: &[f64], rng: &mut SplitMix64) -> Vec<f64> {
    let random: Vec<f64> = (0..gradient.len()).map(|_| f64::from(rng.uniform(-1.0, 1.0))).collect();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-30);
    let (g_norm, r_norm) = (norm(gradient), norm(&random));
    gradient.iter().zip(&random).map(|(g, r)| g / g_norm + r / r_norm).collect()
}

/// The central difference `(L(+eps) - L(-eps)) / (2 eps)` of `loss_at(step)`,
/// the loss moved by `step` along a direction.
pub fn central_difference(mut loss_at: impl FnMut(f64) -> f64) -> f64 {
    const EPSILON: f64 = 1e-6;
    (loss_at(EPSILON) - loss_at(-EPSILON)) / (2.0 * EPSILON)
}

/// The error of `gradient`'s derivative along `direction` against `numeric`,
/// relative to `max(|numeric|, 1e-6)` (infinite where not a number), with a
/// line naming the tensor and both values.
pub fn directional_error(name: &str, gradient: &[f64], direction: &[f64], numeric: f64) -> (f64, String) {
    let analytic: f64 = gradient.iter().zip(direction).map(|(g, d)| g * d).sum();
    let error = (analytic - numeric).abs() / numeric.abs().max(1e-6);
    let error = if error.is_nan() { f64::INFINITY } else { error };
    (error, format!("{name}: backend {analytic:e}, finite differences {numeric:e}"))
}

/// The worst error of gradients against a reference written in a test (not
/// the interpreter): each of `tensors` (its name, the backend's gradient, and
/// `A`, which `tensor` turns into that tensor's values in a point `P` of the
/// reference's data) is checked along [`check_direction`] (`rng` seeded by
/// `seed`, drawn in order) against [`central_difference`]s of `loss`, each in
/// a copy of `point`. Panics where a gradient's length is not its tensor's.
pub fn reference_gradient_error<P: Clone, N: AsRef<str>, A>(
    point: &P,
    tensors: &[(N, Vec<f64>, A)],
    tensor: impl for<'a> Fn(&'a mut P, &A) -> &'a mut Vec<f64>,
    loss: impl Fn(&P) -> f64,
    seed: u64,
) -> (f64, String) {
    let mut rng = SplitMix64::new(seed);
    let mut worst = (0.0f64, String::new());
    for (name, gradient, which) in tensors {
        let name = name.as_ref();
        let len = tensor(&mut point.clone(), which).len();
        assert_eq!(gradient.len(), len, "{name}: its gradient has the stored shape");
        let direction = check_direction(gradient, &mut rng);
        let numeric = central_difference(|step| {
            let mut moved = point.clone();
            for (v, d) in tensor(&mut moved, which).iter_mut().zip(&direction) {
                *v += step * d;
            }
            loss(&moved)
        });
        let (error, line) = directional_error(name, gradient, &direction, numeric);
        if error >= worst.0 {
            worst = (error, line);
        }
    }
    worst
}

/// [`gradient_error`] for several backends' gradients of the same loss (by
/// several methods, say) at the price of one: every tensor is moved along the
/// first gradient's direction plus a random one, and each gradient is checked
/// along it.
pub fn gradient_errors(
    derived: &Derived,
    data: &BoundData,
    douts: &[Vec<f32>],
    gradients: &[&GradientBuffers],
    seed: u64,
) -> Vec<Result<(f64, String), String>> {
    let cell = &derived.cell;
    let base = Point {
        params: data.params().iter().map(|t| widen(t.data())).collect(),
        inputs: data.inputs().iter().map(|t| widen(t.data())).collect(),
        inits: data.inits().iter().map(|t| widen(t.data())).collect(),
    };
    let of = |g: &GradientBuffers, which: Which| -> Vec<f64> {
        let values = match which {
            Which::Param(i) => g.params.get(i),
            Which::Input(i) => g.inputs.get(i),
            Which::Init(i) => g.inits.get(i),
        };
        values.map_or(Vec::new(), |v| widen(v))
    };
    let mut checks: Vec<(Which, String)> = Vec::new();
    checks.extend(cell.params.values().enumerate().map(|(i, p)| (Which::Param(i), format!("param.{}", p.name))));
    checks.extend(cell.inputs.values().enumerate().map(|(i, x)| (Which::Input(i), format!("input.{}", x.name))));
    checks.extend(cell.states.values().enumerate().map(|(i, s)| (Which::Init(i), format!("init.{}", s.name))));
    let mut rng = SplitMix64::new(seed);
    let mut results: Vec<Result<(f64, String), String>> = vec![Ok((0.0, String::new())); gradients.len()];
    for (which, name) in checks {
        let mut point = Point { params: base.params.clone(), inputs: base.inputs.clone(), inits: base.inits.clone() };
        let scalar = matches!(which, Which::Param(i) if cell.params.values().nth(i).is_some_and(|p| p.scalar));
        let len = if scalar { 1 } else { point.tensor_mut(which).len() };
        let all: Vec<Vec<f64>> = gradients.iter().map(|g| of(g, which)).collect();
        for (result, g) in results.iter_mut().zip(&all) {
            if g.len() != len && result.is_ok() {
                *result = Err(format!("{name}: {} values, expected {len}", g.len()));
            }
        }
        let Some(first) = all.first().filter(|g| g.len() == len) else { continue };
        let direction = check_direction(first, &mut rng);
        let numeric = central_difference(|step| {
            let original = point.tensor_mut(which).clone();
            for (k, x) in point.tensor_mut(which).iter_mut().enumerate() {
                *x += step * direction[if scalar { 0 } else { k }];
            }
            let value = loss(derived, data, &point, douts);
            *point.tensor_mut(which) = original;
            value
        });
        for (result, g) in results.iter_mut().zip(&all) {
            let Ok(worst) = result else { continue };
            let (error, line) = directional_error(&name, g, &direction, numeric);
            if error >= worst.0 {
                *worst = (error, line);
            }
        }
    }
    results
}
