//! Elementwise functions on four float32 lanes (`f32x4`), inlined into the kernels.
//!
//! Cranelift has no transcendental instructions, so each is built from adds,
//! multiplies, one division at most and integer operations on the float bits: a
//! range reduction, a short polynomial on the reduced argument, and a
//! reconstruction. Every polynomial is a truncated Taylor series on an interval
//! small enough that the truncation error is far below float32's rounding error,
//! so the results are within a few units in the last place of the exact value
//! (`tests/cpu_math.rs` in the runtime measures them against float64):
//!
//! - `exp`: `x = n ln 2 + r`, `|r| <= ln 2 / 2` (Cody and Waite's two-part `ln 2`),
//!   degree-7 series, `2^n` applied in two halves so that results down to the
//!   subnormals and up to `f32::MAX` are exact; above 88.7228 it is `+inf`.
//! - `log`: `x = m 2^e`, `m` in `[sqrt(1/2), sqrt(2))`, and
//!   `log m = 2 atanh(s)`, `s = (m - 1) / (m + 1)`, `|s| <= 0.172`, odd series to
//!   `s^9`; subnormals, zero, negatives, infinity and NaN as IEEE prescribes.
//! - `tanh`: the odd Taylor series to `x^11` below `|x| = 0.35`, above it
//!   `(1 - e) / (1 + e)` with `e = exp(-2 |x|)` (no overflow), sign restored.
//! - `sigmoid`: `1 / (1 + exp(-x))`; `silu`: `x sigmoid(x)`.
//! - `softplus`: `max(x, 0) + log1p(exp(-|x|))`, with `log1p(u)` computed as
//!   `log(w) u / (w - 1)`, `w = 1 + u` (exact to rounding even for tiny `u`).
//! - `sin`, `cos`: `x = n pi/2 + r` with a three-part `pi/2`, Taylor series for
//!   both on `|r| <= pi/4`, quadrant from `n`. Accurate for `|x|` up to about
//!   1e5; beyond that the reduction loses accuracy in proportion to `|x|`.
//! - `log1p`: `log(w) u / (w - 1)`, `w = 1 + u`, as in `softplus` (`u` where
//!   `w == 1`, `w` where `w` is infinite); `expm1`: Kahan's
//!   `(e - 1) x / log(e)`, `e = exp(x)` (`x` where `e == 1`; `e - 1` where that is
//!   -1 or `e` is infinite).
//! - `erf`: below `|x| = 1` the odd Taylor series to `x^19`; above it
//!   `1 - erfc`, with Numerical Recipes' `erfcc` (relative error below 1.2e-7).
//! - `pow` with a constant exponent: repeated squaring for an integer up to
//!   2^24 (then the reciprocal for a negative one); otherwise
//!   `exp(p log(x))` (of `|x|` for a larger integer, which is even).
//! - `sqrt`, `abs`, `min`, `max`: single CLIF instructions; `relu`: a compare
//!   and a select. `min`, `max` and `relu` return NaN for a NaN operand, as the
//!   interpreter does.
//!
//! No function calls out of the generated code, so the kernels need no host
//! symbols.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{Endianness, InstBuilder, MemFlagsData, Value, types};
use cranelift_frontend::FunctionBuilder;

use crate::check::{BinaryOp, UnaryOp};
use crate::ir::semantics;

/// `1.5 * 2^23`: adding it to a float below `2^22` in magnitude rounds it to an
/// integer, which then sits in the low mantissa bits.
const ROUNDING: f32 = 12_582_912.0;
const SIGN_BIT: i32 = i32::MIN;

/// `value` in all four lanes.
pub(super) fn splat(b: &mut FunctionBuilder<'_>, value: f32) -> Value {
    let scalar = b.ins().f32const(value);
    b.ins().splat(types::F32X4, scalar)
}

fn splat_int(b: &mut FunctionBuilder<'_>, value: i32) -> Value {
    let scalar = b.ins().iconst(types::I32, i64::from(value));
    b.ins().splat(types::I32X4, scalar)
}

fn lane_flags() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

fn bits(b: &mut FunctionBuilder<'_>, x: Value) -> Value {
    b.ins().bitcast(types::I32X4, lane_flags(), x)
}

fn float(b: &mut FunctionBuilder<'_>, x: Value) -> Value {
    b.ins().bitcast(types::F32X4, lane_flags(), x)
}

/// Lane by lane, `if mask { a } else { other }` (`mask` an `i32x4` of all-ones or
/// all-zeros lanes, as comparisons give).
pub(super) fn select(b: &mut FunctionBuilder<'_>, mask: Value, a: Value, other: Value) -> Value {
    let mask = float(b, mask);
    b.ins().bitselect(mask, a, other)
}

fn compare(b: &mut FunctionBuilder<'_>, cc: FloatCC, x: Value, bound: f32) -> Value {
    let bound = splat(b, bound);
    b.ins().fcmp(cc, x, bound)
}

/// `c[0] + x (c[1] + x (c[2] + ...))`.
fn horner(b: &mut FunctionBuilder<'_>, x: Value, coefficients: &[f32]) -> Value {
    let mut coefficients = coefficients.iter().rev();
    let mut acc = splat(b, coefficients.next().copied().unwrap_or(0.0));
    for &c in coefficients {
        let product = b.ins().fmul(acc, x);
        let c = splat(b, c);
        acc = b.ins().fadd(product, c);
    }
    acc
}

/// `2^n` for integer lanes `n` in `[-126, 127]`.
fn power_of_two(b: &mut FunctionBuilder<'_>, n: Value) -> Value {
    let bias = splat_int(b, 127);
    let biased = b.ins().iadd(n, bias);
    let shifted = b.ins().ishl_imm_u(biased, 23);
    float(b, shifted)
}

/// `round(x)` for `|x| < 2^22`: the rounded float and its integer lanes.
fn round(b: &mut FunctionBuilder<'_>, x: Value) -> (Value, Value) {
    let rounding = splat(b, ROUNDING);
    let shifted = b.ins().fadd(x, rounding);
    let rounded = b.ins().fsub(shifted, rounding);
    let shifted_bits = bits(b, shifted);
    let rounding_bits = splat_int(b, ROUNDING.to_bits() as i32);
    let integer = b.ins().isub(shifted_bits, rounding_bits);
    (rounded, integer)
}

/// `e^x`.
pub(super) fn exp(b: &mut FunctionBuilder<'_>, x: Value) -> Value {
    const OVERFLOW: f32 = 88.722_84;
    // Clamped by compare and select (NaN stays NaN), which is cheaper than
    // `fmin`/`fmax` and their NaN rules.
    let high = splat(b, OVERFLOW);
    let low = splat(b, -104.0);
    let above = b.ins().fcmp(FloatCC::GreaterThan, x, high);
    let clamped = select(b, above, high, x);
    let below = b.ins().fcmp(FloatCC::LessThan, clamped, low);
    let clamped = select(b, below, low, clamped);
    let log2e = splat(b, std::f32::consts::LOG2_E);
    let scaled = b.ins().fmul(clamped, log2e);
    let (n, n_int) = round(b, scaled);
    // ln 2 = LN2_HIGH + LN2_LOW, LN2_HIGH with few mantissa bits so n * LN2_HIGH is exact.
    let ln2_high = splat(b, 0.693_359_4);
    let ln2_low = splat(b, -2.121_944_4e-4);
    let high_part = b.ins().fmul(n, ln2_high);
    let r = b.ins().fsub(clamped, high_part);
    let low_part = b.ins().fmul(n, ln2_low);
    let r = b.ins().fsub(r, low_part);
    let p = horner(b, r, &[1.0, 1.0, 0.5, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5040.0]);
    // 2^n in two halves, each a normal float for n in [-150, 128].
    let half = b.ins().sshr_imm_u(n_int, 1);
    let rest = b.ins().isub(n_int, half);
    let scale_a = power_of_two(b, half);
    let scale_b = power_of_two(b, rest);
    let scaled = b.ins().fmul(p, scale_a);
    let value = b.ins().fmul(scaled, scale_b);
    let infinity = splat(b, f32::INFINITY);
    select(b, above, infinity, value)
}

/// The natural logarithm.
pub(super) fn log(b: &mut FunctionBuilder<'_>, x: Value) -> Value {
    // Subnormals: scale by 2^23 first.
    let subnormal = compare(b, FloatCC::LessThan, x, f32::MIN_POSITIVE);
    let two23 = splat(b, 8_388_608.0);
    let scaled_x = b.ins().fmul(x, two23);
    let x_normal = select(b, subnormal, scaled_x, x);
    let adjust_23 = splat_int(b, 23);
    let zero_int = splat_int(b, 0);
    let adjust = select_int(b, subnormal, adjust_23, zero_int);
    let x_bits = bits(b, x_normal);
    let exponent = b.ins().ushr_imm_u(x_bits, 23);
    let bias = splat_int(b, 127);
    let exponent = b.ins().isub(exponent, bias);
    let exponent = b.ins().isub(exponent, adjust);
    let mantissa_mask = splat_int(b, 0x007f_ffff);
    let one_bits = splat_int(b, 0x3f80_0000);
    let mantissa = b.ins().band(x_bits, mantissa_mask);
    let mantissa = b.ins().bor(mantissa, one_bits);
    let m = float(b, mantissa);
    // m in [1, 2): fold [sqrt 2, 2) down to [sqrt(1/2), 1).
    let large = compare(b, FloatCC::GreaterThan, m, std::f32::consts::SQRT_2);
    let half = splat(b, 0.5);
    let m_half = b.ins().fmul(m, half);
    let m = select(b, large, m_half, m);
    // `large` is -1 in the lanes where the exponent grows by one.
    let exponent = b.ins().isub(exponent, large);
    let one = splat(b, 1.0);
    let numerator = b.ins().fsub(m, one);
    let denominator = b.ins().fadd(m, one);
    let s = b.ins().fdiv(numerator, denominator);
    let z = b.ins().fmul(s, s);
    let series = horner(b, z, &[2.0 / 3.0, 2.0 / 5.0, 2.0 / 7.0, 2.0 / 9.0]);
    let sz = b.ins().fmul(s, z);
    let tail = b.ins().fmul(sz, series);
    let two = splat(b, 2.0);
    let lead = b.ins().fmul(s, two);
    let log_m = b.ins().fadd(lead, tail);
    let e = b.ins().fcvt_from_sint(types::F32X4, exponent);
    let ln2_high = splat(b, 0.693_359_4);
    let ln2_low = splat(b, -2.121_944_4e-4);
    let e_low = b.ins().fmul(e, ln2_low);
    let low = b.ins().fadd(log_m, e_low);
    let e_high = b.ins().fmul(e, ln2_high);
    let value = b.ins().fadd(e_high, low);
    // Special values.
    let infinity = splat(b, f32::INFINITY);
    let is_infinite = b.ins().fcmp(FloatCC::Equal, x, infinity);
    let value = select(b, is_infinite, infinity, value);
    let zero = splat(b, 0.0);
    let is_zero = b.ins().fcmp(FloatCC::Equal, x, zero);
    let minus_infinity = splat(b, f32::NEG_INFINITY);
    let value = select(b, is_zero, minus_infinity, value);
    let invalid = b.ins().fcmp(FloatCC::UnorderedOrLessThan, x, zero);
    let nan = splat(b, f32::NAN);
    select(b, invalid, nan, value)
}

fn select_int(b: &mut FunctionBuilder<'_>, mask: Value, a: Value, other: Value) -> Value {
    b.ins().bitselect(mask, a, other)
}

/// `x` with the sign of `sign` (`x` non-negative or NaN).
fn with_sign_of(b: &mut FunctionBuilder<'_>, x: Value, sign: Value) -> Value {
    let sign_bits = bits(b, sign);
    let sign_mask = splat_int(b, SIGN_BIT);
    let sign_only = b.ins().band(sign_bits, sign_mask);
    let x_bits = bits(b, x);
    let signed = b.ins().bor(x_bits, sign_only);
    float(b, signed)
}

/// The hyperbolic tangent.
pub(super) fn tanh(b: &mut FunctionBuilder<'_>, x: Value) -> Value {
    let a = b.ins().fabs(x);
    let z = b.ins().fmul(a, a);
    let series = horner(b, z, &[-1.0 / 3.0, 2.0 / 15.0, -17.0 / 315.0, 62.0 / 2835.0, -1382.0 / 155_925.0]);
    let az = b.ins().fmul(a, z);
    let tail = b.ins().fmul(az, series);
    let small = b.ins().fadd(a, tail);
    let minus_two = splat(b, -2.0);
    let minus_two_a = b.ins().fmul(a, minus_two);
    let e = exp(b, minus_two_a);
    let one = splat(b, 1.0);
    let numerator = b.ins().fsub(one, e);
    let denominator = b.ins().fadd(one, e);
    let large = b.ins().fdiv(numerator, denominator);
    let is_small = compare(b, FloatCC::LessThan, a, 0.35);
    let magnitude = select(b, is_small, small, large);
    with_sign_of(b, magnitude, x)
}

/// The logistic function.
pub(super) fn sigmoid(b: &mut FunctionBuilder<'_>, x: Value) -> Value {
    let minus_x = b.ins().fneg(x);
    let e = exp(b, minus_x);
    let one = splat(b, 1.0);
    let denominator = b.ins().fadd(one, e);
    b.ins().fdiv(one, denominator)
}

/// `max(x, 0)`, NaN for NaN.
pub(super) fn relu(b: &mut FunctionBuilder<'_>, x: Value) -> Value {
    let zero = splat(b, 0.0);
    let keep = b.ins().fcmp(FloatCC::UnorderedOrGreaterThan, x, zero);
    select(b, keep, x, zero)
}

/// `log(1 + exp(x))`.
pub(super) fn softplus(b: &mut FunctionBuilder<'_>, x: Value) -> Value {
    let positive_part = relu(b, x);
    let a = b.ins().fabs(x);
    let minus_a = b.ins().fneg(a);
    let u = exp(b, minus_a);
    let one = splat(b, 1.0);
    let w = b.ins().fadd(one, u);
    let log_w = log(b, w);
    let w_minus_one = b.ins().fsub(w, one);
    let ratio = b.ins().fdiv(u, w_minus_one);
    let corrected = b.ins().fmul(log_w, ratio);
    let exact_one = b.ins().fcmp(FloatCC::Equal, w, one);
    let log1p = select(b, exact_one, u, corrected);
    b.ins().fadd(positive_part, log1p)
}

/// `sin(x)` (`cosine: false`) or `cos(x)` (`cosine: true`).
pub(super) fn sin_cos(b: &mut FunctionBuilder<'_>, x: Value, cosine: bool) -> Value {
    let two_over_pi = splat(b, std::f32::consts::FRAC_2_PI);
    let scaled = b.ins().fmul(x, two_over_pi);
    let (n, _) = round(b, scaled);
    let quadrant = b.ins().fcvt_to_sint_sat(types::I32X4, n);
    let mut r = x;
    for part in [1.570_312_5_f32, 4.837_513e-4, 7.549_79e-8] {
        let part = splat(b, part);
        let product = b.ins().fmul(n, part);
        r = b.ins().fsub(r, product);
    }
    let z = b.ins().fmul(r, r);
    let sin_series = horner(b, z, &[-1.0 / 6.0, 1.0 / 120.0, -1.0 / 5040.0, 1.0 / 362_880.0, -1.0 / 39_916_800.0]);
    let rz = b.ins().fmul(r, z);
    let sin_tail = b.ins().fmul(rz, sin_series);
    let sin_r = b.ins().fadd(r, sin_tail);
    let cos_r =
        horner(b, z, &[1.0, -0.5, 1.0 / 24.0, -1.0 / 720.0, 1.0 / 40_320.0, -1.0 / 3_628_800.0, 1.0 / 479_001_600.0]);
    // cos(x) = sin(x + pi/2): one quadrant further.
    let one_int = splat_int(b, 1);
    let quadrant = if cosine { b.ins().iadd(quadrant, one_int) } else { quadrant };
    let low_bit = b.ins().band(quadrant, one_int);
    // All-ones where the quadrant is even: there the sine series applies.
    let even = b.ins().icmp(IntCC::NotEqual, low_bit, one_int);
    let value = select(b, even, sin_r, cos_r);
    let two_int = splat_int(b, 2);
    let negate = b.ins().band(quadrant, two_int);
    let negate = b.ins().ishl_imm_u(negate, 30);
    let value_bits = bits(b, value);
    let flipped = b.ins().bxor(value_bits, negate);
    float(b, flipped)
}

/// `log(1 + x)`, exact to rounding for small `x`.
pub(super) fn log1p(b: &mut FunctionBuilder<'_>, x: Value) -> Value {
    let one = splat(b, 1.0);
    let w = b.ins().fadd(one, x);
    let d = b.ins().fsub(w, one);
    let log_w = log(b, w);
    let ratio = b.ins().fdiv(x, d);
    let value = b.ins().fmul(log_w, ratio);
    let w_abs = b.ins().fabs(w);
    let infinite = compare(b, FloatCC::Equal, w_abs, f32::INFINITY);
    let value = select(b, infinite, w, value);
    let zero = splat(b, 0.0);
    let tiny = b.ins().fcmp(FloatCC::Equal, d, zero);
    select(b, tiny, x, value)
}

/// `exp(x) - 1`, exact to rounding for small `x`.
pub(super) fn expm1(b: &mut FunctionBuilder<'_>, x: Value) -> Value {
    let one = splat(b, 1.0);
    let e = exp(b, x);
    let d = b.ins().fsub(e, one);
    let log_e = log(b, e);
    let ratio = b.ins().fdiv(x, log_e);
    let value = b.ins().fmul(d, ratio);
    let infinite = compare(b, FloatCC::Equal, e, f32::INFINITY);
    let saturated = compare(b, FloatCC::Equal, d, -1.0);
    let value = select(b, infinite, d, value);
    let value = select(b, saturated, d, value);
    let exact_one = b.ins().fcmp(FloatCC::Equal, e, one);
    select(b, exact_one, x, value)
}

/// The odd Taylor coefficients of `erf`: `2 / sqrt(pi) (-1)^n / (n! (2n + 1))`.
const ERF_SERIES: [f32; 10] = [
    std::f32::consts::FRAC_2_SQRT_PI,
    -0.376_126_38,
    0.112_837_92,
    -0.026_866_17,
    0.005_223_977_6,
    -0.000_854_832_7,
    0.000_120_553_33,
    -1.492_565e-5,
    1.646_211_4e-6,
    -1.636_584_5e-7,
];

/// Numerical Recipes' `erfcc`: `erfc(a) = t exp(P(t) - a^2)`, `t = 1 / (1 + a / 2)`.
const ERFC_POLYNOMIAL: [f32; 10] = [
    -1.265_512_2,
    1.000_023_7,
    0.374_091_96,
    0.096_784_18,
    -0.186_288_06,
    0.278_868_07,
    -1.135_204,
    1.488_515_9,
    -0.822_152_23,
    0.170_872_77,
];

/// The error function.
pub(super) fn erf(b: &mut FunctionBuilder<'_>, x: Value) -> Value {
    let a = b.ins().fabs(x);
    let z = b.ins().fmul(a, a);
    let series = horner(b, z, &ERF_SERIES);
    let small = b.ins().fmul(a, series);
    let half = splat(b, 0.5);
    let one = splat(b, 1.0);
    let half_a = b.ins().fmul(a, half);
    let denominator = b.ins().fadd(one, half_a);
    let t = b.ins().fdiv(one, denominator);
    let polynomial = horner(b, t, &ERFC_POLYNOMIAL);
    let argument = b.ins().fsub(polynomial, z);
    let gauss = exp(b, argument);
    let erfc = b.ins().fmul(t, gauss);
    let large = b.ins().fsub(one, erfc);
    let is_small = compare(b, FloatCC::LessThan, a, 1.0);
    let magnitude = select(b, is_small, small, large);
    with_sign_of(b, magnitude, x)
}

/// `x ^ p` for a constant exponent `p` (see `ir::semantics::power`).
pub(super) fn power(b: &mut FunctionBuilder<'_>, x: Value, p: f64) -> Value {
    if semantics::is_integer_exponent(p) {
        let mut k = p.abs() as u32;
        let mut base = x;
        let mut acc: Option<Value> = None;
        while k > 0 {
            if k & 1 == 1 {
                acc = Some(match acc {
                    Some(acc) => b.ins().fmul(acc, base),
                    None => base,
                });
            }
            k >>= 1;
            if k > 0 {
                base = b.ins().fmul(base, base);
            }
        }
        let one = splat(b, 1.0);
        let acc = acc.unwrap_or(one);
        return if p < 0.0 { b.ins().fdiv(one, acc) } else { acc };
    }
    let base = if p.fract() == 0.0 { b.ins().fabs(x) } else { x };
    let log_x = log(b, base);
    let exponent = splat(b, p as f32);
    let scaled = b.ins().fmul(exponent, log_x);
    exp(b, scaled)
}

/// The Heaviside step: 1 where `x > 0`, 0 elsewhere, NaN for NaN.
pub(super) fn step(b: &mut FunctionBuilder<'_>, x: Value) -> Value {
    let zero = splat(b, 0.0);
    let one = splat(b, 1.0);
    let positive = b.ins().fcmp(FloatCC::GreaterThan, x, zero);
    let value = select(b, positive, one, zero);
    let nan = b.ins().fcmp(FloatCC::Unordered, x, x);
    select(b, nan, x, value)
}

/// The sign: 1, 0 or -1, NaN for NaN.
pub(super) fn sign(b: &mut FunctionBuilder<'_>, x: Value) -> Value {
    let zero = splat(b, 0.0);
    let one = splat(b, 1.0);
    let minus_one = splat(b, -1.0);
    let positive = b.ins().fcmp(FloatCC::GreaterThan, x, zero);
    let negative = b.ins().fcmp(FloatCC::LessThan, x, zero);
    let value = select(b, negative, minus_one, zero);
    let value = select(b, positive, one, value);
    let nan = b.ins().fcmp(FloatCC::Unordered, x, x);
    select(b, nan, x, value)
}

/// `op(x)` on four lanes.
pub(super) fn unary(b: &mut FunctionBuilder<'_>, op: UnaryOp, x: Value) -> Value {
    match op {
        UnaryOp::Neg => b.ins().fneg(x),
        UnaryOp::Tanh => tanh(b, x),
        UnaryOp::Sigmoid => sigmoid(b, x),
        UnaryOp::Exp => exp(b, x),
        UnaryOp::Log => log(b, x),
        UnaryOp::Relu => relu(b, x),
        UnaryOp::Softplus => softplus(b, x),
        UnaryOp::Silu => {
            let s = sigmoid(b, x);
            b.ins().fmul(x, s)
        }
        UnaryOp::Sqrt => b.ins().sqrt(x),
        UnaryOp::Abs => b.ins().fabs(x),
        UnaryOp::Sin => sin_cos(b, x, false),
        UnaryOp::Cos => sin_cos(b, x, true),
        UnaryOp::Log1p => log1p(b, x),
        UnaryOp::Expm1 => expm1(b, x),
        UnaryOp::Erf => erf(b, x),
    }
}

/// `op(x, y)` on four lanes.
pub(super) fn binary(b: &mut FunctionBuilder<'_>, op: BinaryOp, x: Value, y: Value) -> Value {
    match op {
        BinaryOp::Add => b.ins().fadd(x, y),
        BinaryOp::Sub => b.ins().fsub(x, y),
        BinaryOp::Mul => b.ins().fmul(x, y),
        BinaryOp::Div => b.ins().fdiv(x, y),
        BinaryOp::Min => b.ins().fmin(x, y),
        BinaryOp::Max => b.ins().fmax(x, y),
        BinaryOp::Pow => {
            // Never made with a non-constant exponent (see `Op::Binary`); the
            // general rule, exp(y log(x)).
            let log_x = log(b, x);
            let scaled = b.ins().fmul(y, log_x);
            exp(b, scaled)
        }
    }
}
