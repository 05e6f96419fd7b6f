// Numerically stable elementwise functions the generated code calls (`emit.rs`
// prints calls to them): stable sigmoid, tanh and softplus, log1p and expm1
// exact near 0, erf, integer and real powers, and the IEEE-exact `x - x` and
// `x / x` (`self_difference_`, `self_quotient_`) no optimiser folds.
fn sigmoid_(x: f32) -> f32 {
    let e = exp(-abs(x));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}
fn tanh_(x: f32) -> f32 {
    let e = exp(-2.0 * abs(x));
    return sign(x) * (1.0 - e) / (1.0 + e);
}
fn softplus_(x: f32) -> f32 {
    return max(x, 0.0) + log(1.0 + exp(-abs(x)));
}
fn silu_(x: f32) -> f32 {
    return x * sigmoid_(x);
}
fn log1p_(x: f32) -> f32 {
    let w = 1.0 + x;
    let d = w - 1.0;
    if (d == 0.0) { return x; }
    if (!is_finite_(w)) { return w; }
    return log(w) * (x / d);
}
fn expm1_(x: f32) -> f32 {
    let u = exp(x);
    let d = u - 1.0;
    if (u == 1.0) { return x; }
    if (d == -1.0 || !is_finite_(u)) { return d; }
    return d * (x / log(u));
}
fn erf_(x: f32) -> f32 {
    let a = abs(x);
    let z = a * a;
    let series = 1.1283791670955126 + z * (-0.37612638903183754 + z * (0.11283791670955126 + z * (-0.026866170645131252
        + z * (0.005223977625442188 + z * (-0.0008548327023450852 + z * (0.00012055332981789664
        + z * (-1.4925650358406251e-05 + z * (1.6462114365889246e-06 + z * -1.6365844691234924e-07))))))));
    let t = 1.0 / (1.0 + 0.5 * a);
    let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
        + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let tail = 1.0 - t * exp(poly - z);
    return select(sign(x) * tail, x * series, a < 1.0);
}
fn powi_(x: f32, n: i32) -> f32 {
    var base = x;
    var k = abs(n);
    var acc = 1.0;
    loop {
        if ((k & 1) != 0) { acc *= base; }
        k = k >> 1u;
        if (k == 0) { break; }
        base *= base;
    }
    return select(acc, 1.0 / acc, n < 0);
}
fn powf_(x: f32, p: f32) -> f32 {
    if (x == 0.0) { return select(bitcast<f32>(0x7f800000u), 0.0, p > 0.0); }
    if (x < 0.0) { return bitcast<f32>(0x7fc00000u); }
    return exp2(p * log2(x));
}
fn is_finite_(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}
fn self_difference_(x: f32) -> f32 {
    return select(bitcast<f32>(0x7fc00000u), 0.0, is_finite_(x));
}
fn self_quotient_(x: f32) -> f32 {
    return select(bitcast<f32>(0x7fc00000u), 1.0, is_finite_(x) && x != 0.0);
}
