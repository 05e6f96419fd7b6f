//! The inlined approximations of the transcendental functions, measured through
//! whole kernels against float64 (`rnnc_compiler::ir::semantics`): the error in
//! units in the last place of the float32 result, over sweeps of each function's
//! useful range, and the special values.

mod cpu_support;

use std::collections::BTreeMap;

use cpu_support::*;
use rnnc_compiler::check::UnaryOp;
use rnnc_compiler::ir::semantics;
use rnnc_runtime::Method;
use rnnc_runtime::data::{BoundData, Tensor};

const WIDTH: usize = 64;

/// `expression` (of `x`) for every `x` of `points`, computed by a kernel.
fn run_expression(expression: &str, points: &[f32]) -> Vec<f32> {
    let source = format!("cell f {{ dim H; input x: [H]; state h: [H]; h' = {expression}; output h; }}");
    let derived = derive_all(&source).remove(0);
    let steps = points.len().div_ceil(WIDTH);
    let mut values = points.to_vec();
    values.resize(steps * WIDTH, 0.0);
    let input = Tensor::new(vec![1, steps, WIDTH], values).expect("shape");
    let data =
        BoundData::bind(&derived.cell, BTreeMap::new(), vec![("x".to_owned(), input)], Vec::new()).expect("binds");
    let cell = compile(&derived, &data, 2);
    let (outputs, _) = forward(&cell, &data, Method::Sequential);
    outputs[0][..points.len()].to_vec()
}

/// The spacing of float32s at `value`.
fn ulp(value: f64) -> f64 {
    let v = (value.abs() as f32).max(f32::from_bits(1));
    let next = f32::from_bits(v.to_bits() + 1);
    f64::from(next) - f64::from(v)
}

/// The largest error of `name` over `points`, in float32 units in the last place
/// (or, with `absolute`, as an absolute error).
fn worst_error(name: &str, op: UnaryOp, points: &[f32], absolute: bool) -> f64 {
    worst_error_of(&format!("{name}(x)"), |x| semantics::unary(op, x), points, absolute)
}

/// [`worst_error`] of any `expression` of `x` against `want`.
fn worst_error_of(name: &str, want: impl Fn(f64) -> f64, points: &[f32], absolute: bool) -> f64 {
    let outputs = run_expression(name, points);
    let mut worst = 0.0f64;
    for (&x, &out) in points.iter().zip(&outputs) {
        let want = want(f64::from(x));
        let rounded = want as f32;
        if !want.is_finite() || rounded.is_infinite() {
            assert!(out == rounded || (out.is_nan() && want.is_nan()), "{name}({x:e}) = {out:e}, expected {want:e}");
            continue;
        }
        let error = (f64::from(out) - want).abs();
        if !absolute && want.abs() < f64::from(f32::MIN_POSITIVE) {
            // Below the normal range: an absolute error of at most MIN_POSITIVE.
            assert!(error <= f64::from(f32::MIN_POSITIVE), "{name}({x:e}) = {out:e}, expected {want:e}");
            continue;
        }
        let error = if absolute { error } else { error / ulp(want) };
        assert!(error.is_finite(), "{name}({x:e}) = {out:e}, expected {want:e}");
        worst = worst.max(error);
    }
    worst
}

fn sweep(low: f32, high: f32, count: usize) -> Vec<f32> {
    (0..count).map(|i| low + (high - low) * i as f32 / (count - 1) as f32).collect()
}

fn logarithmic(low: f32, high: f32, count: usize) -> Vec<f32> {
    let (a, b) = (low.ln(), high.ln());
    (0..count).map(|i| (a + (b - a) * i as f32 / (count - 1) as f32).exp()).collect()
}

#[test]
fn exponential_and_logarithm() {
    let mut points = sweep(-103.0, 88.7, 20_000);
    points.extend([0.0, -0.0, 1e-8, -1e-8, 88.72, 88.73, 100.0, -104.0, -120.0]);
    let exp = worst_error("exp", UnaryOp::Exp, &points, false);
    let mut positive = logarithmic(1e-44, 3e38, 20_000);
    positive.extend(sweep(0.5, 2.0, 5_000));
    positive.extend([0.0, -1.0, -1e-30, 1.0, f32::MIN_POSITIVE, f32::MAX]);
    let log = worst_error("log", UnaryOp::Log, &positive, false);
    println!("exp: {exp:.2} ulp, log: {log:.2} ulp");
    assert!(exp <= 3.0 && log <= 3.0, "exp {exp}, log {log}");
}

#[test]
fn squashing_functions() {
    let mut points = sweep(-30.0, 30.0, 40_000);
    points.extend(sweep(-0.5, 0.5, 10_000));
    points.extend([0.0, -0.0, 1e-30, -1e-30, 0.35, -0.35, 100.0, -100.0, 1e30, -1e30]);
    let mut results = Vec::new();
    for (name, op) in [
        ("tanh", UnaryOp::Tanh),
        ("sigmoid", UnaryOp::Sigmoid),
        ("softplus", UnaryOp::Softplus),
        ("silu", UnaryOp::Silu),
    ] {
        results.push((name, worst_error(name, op, &points, false)));
    }
    println!("{results:?}");
    for (name, error) in results {
        assert!(error <= 4.0, "{name}: {error} ulp");
    }
}

#[test]
fn trigonometric_functions() {
    let mut points = sweep(-100.0, 100.0, 40_000);
    points.extend(sweep(-4.0, 4.0, 10_000));
    points.extend([0.0, -0.0, 1e-30, std::f32::consts::PI, std::f32::consts::FRAC_PI_2]);
    let sin = worst_error("sin", UnaryOp::Sin, &points, true);
    let cos = worst_error("cos", UnaryOp::Cos, &points, true);
    // Far from 0 the reduction by pi/2 loses accuracy in proportion to |x|.
    let far = sweep(-1e5, 1e5, 20_000);
    let (sin_far, cos_far) =
        (worst_error("sin", UnaryOp::Sin, &far, true), worst_error("cos", UnaryOp::Cos, &far, true));
    println!("|x| <= 100: sin {sin:.2e}, cos {cos:.2e}; |x| <= 1e5: sin {sin_far:.2e}, cos {cos_far:.2e} (absolute)");
    assert!(sin <= 1.5e-7 && cos <= 1.5e-7, "sin {sin:e}, cos {cos:e}");
    assert!(sin_far <= 2e-6 && cos_far <= 2e-6, "sin {sin_far:e}, cos {cos_far:e}");
}

#[test]
fn exact_functions() {
    let mut points = logarithmic(1e-40, 1e38, 10_000);
    points.extend([0.0, -0.0, -1.0, 4.0, 2.0]);
    assert!(worst_error("sqrt", UnaryOp::Sqrt, &points, false) <= 0.5);
    let signed = sweep(-10.0, 10.0, 1001);
    assert_eq!(worst_error("abs", UnaryOp::Abs, &signed, false), 0.0);
    assert_eq!(worst_error("relu", UnaryOp::Relu, &signed, false), 0.0);
}

#[test]
fn functions_exact_near_zero() {
    let mut points = sweep(-0.999, 10.0, 20_000);
    points.extend(logarithmic(1e-30, 1e30, 10_000));
    points.extend([0.0, -0.0, -1e-30, -1e-8, -1.0, -2.0, f32::MAX, f32::MIN_POSITIVE]);
    let log1p = worst_error("log1p", UnaryOp::Log1p, &points, false);
    let mut points = sweep(-100.0, 88.0, 20_000);
    points.extend(sweep(-1.0, 1.0, 10_000));
    points.extend([0.0, -0.0, 1e-30, -1e-30, 1e-8, -1e-8, 89.0, 100.0, -120.0]);
    let expm1 = worst_error("expm1", UnaryOp::Expm1, &points, false);
    println!("log1p: {log1p:.2} ulp, expm1: {expm1:.2} ulp");
    assert!(log1p <= 4.0 && expm1 <= 4.0, "log1p {log1p}, expm1 {expm1}");
}

#[test]
fn error_function() {
    let mut points = sweep(-6.0, 6.0, 40_000);
    points.extend(sweep(-1.1, 1.1, 10_000));
    points.extend([0.0, -0.0, 1e-30, -1e-30, 1e-8, 100.0, -100.0, 1e30]);
    let erf = worst_error("erf", UnaryOp::Erf, &points, false);
    println!("erf: {erf:.2} ulp");
    assert!(erf <= 4.0, "erf {erf} ulp");
}

#[test]
fn powers() {
    let signed = sweep(-10.0, 10.0, 4001);
    // Through logarithms the error grows with |p log x| (the rounding of the
    // product is magnified by exp): about |p log x| / 2 ulp over [1e-4, 1e4].
    let mut positive = logarithmic(1e-4, 1e4, 10_000);
    positive.extend([0.0, 1.0, 2.0]);
    let mut results = Vec::new();
    for p in [2.0, 3.0, -1.0, -2.0, 7.0, 0.0] {
        let expression = format!("x ^ ({p:?})");
        let error = worst_error_of(&expression, |x| x.powf(p), &signed, false);
        results.push((expression, error, 4.0));
    }
    for p in [0.5, -1.5, 2.5, 1.0 / 3.0] {
        let expression = format!("pow(x, {p:?})");
        let error = worst_error_of(&expression, |x| x.powf(p), &positive, false);
        results.push((expression, error, 2.0 + f64::abs(p) * 1e4f64.ln()));
    }
    // A fractional power of a negative number is NaN, as the reference says.
    assert!(run_expression("x ^ 0.5", &[-2.0])[0].is_nan());
    println!("{results:?}");
    for (expression, error, bound) in results {
        assert!(error <= bound, "{expression}: {error} ulp (bound {bound:.1})");
    }
}
