//! What each elementwise operation computes on one float64 number: the single
//! definition shared by constant folding, the e-graph's constant analysis and the
//! interpreter. NaN operands give NaN (also for `relu`, `min` and `max`), so that a
//! backend that leaks a NaN is caught by comparison with the interpreter.

use super::node::{BinaryOp, UnaryOp};

/// `op(x)`.
pub fn unary(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Sigmoid => sigmoid(x),
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Relu => {
            if x > 0.0 || x.is_nan() {
                x
            } else {
                0.0
            }
        }
        UnaryOp::Softplus => {
            if x.is_nan() {
                x
            } else {
                x.max(0.0) + (-x.abs()).exp().ln_1p()
            }
        }
        UnaryOp::Silu => x * sigmoid(x),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Abs => x.abs(),
        UnaryOp::Sin => x.sin(),
        UnaryOp::Cos => x.cos(),
        UnaryOp::Log1p => x.ln_1p(),
        UnaryOp::Expm1 => x.exp_m1(),
        UnaryOp::Erf => libm::erf(x),
    }
}

/// `op(a, b)`.
pub fn binary(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Min | BinaryOp::Max if a.is_nan() || b.is_nan() => f64::NAN,
        BinaryOp::Min => a.min(b),
        BinaryOp::Max => a.max(b),
        BinaryOp::Pow => power(a, b),
    }
}

/// `a ^ p`: for an integer `p`, the product of `|p|` factors `a` (its inverse
/// for a negative `p`), defined for every `a`; for any other `p`,
/// `exp(p * log(a))`, which is NaN for a negative `a`. `a ^ 0 = 1`, also for 0
/// and NaN (as IEEE `pown` and `powf` say).
pub fn power(a: f64, p: f64) -> f64 {
    a.powf(p)
}

/// Whether `p` is an exponent that [`power`] treats as an integer (for
/// which the back ends multiply instead of taking logarithms): an integer of
/// magnitude at most [`MAX_INTEGER_EXPONENT`].
pub fn is_integer_exponent(p: f64) -> bool {
    p.fract() == 0.0 && p.abs() <= MAX_INTEGER_EXPONENT
}

/// The largest integer exponent the back ends expand into multiplications (at
/// most 2 log2(p) of them); a larger integer exponent is even in float32 (above
/// 2^24 every float32 is), so `|a| ^ p` computed through logarithms is exact to
/// rounding there.
pub const MAX_INTEGER_EXPONENT: f64 = 16_777_216.0;

/// The logistic function, without overflow for large `|x|`.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The Heaviside step: 1 for `x > 0`, 0 for `x <= 0`, NaN for NaN.
pub fn step(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x.is_nan() {
        x
    } else {
        0.0
    }
}

/// The sign: 1, 0 or -1 (0 for both zeros), NaN for NaN.
pub fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else if x.is_nan() {
        x
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_forms_agree_with_the_textbook_ones() {
        for x in [-30.0, -2.5, -1e-3, 0.0, 0.7, 4.0, 30.0] {
            let textbook = 1.0 / (1.0 + f64::exp(-x));
            assert!((sigmoid(x) - textbook).abs() < 1e-15, "{x}");
            let softplus = f64::ln(1.0 + f64::exp(x));
            assert!((unary(UnaryOp::Softplus, x) - softplus).abs() < 1e-12, "{x}");
        }
        assert_eq!(unary(UnaryOp::Softplus, 800.0), 800.0);
        assert_eq!(sigmoid(-800.0), 0.0);
    }

    #[test]
    fn nan_propagates_through_kinked_functions() {
        assert!(unary(UnaryOp::Relu, f64::NAN).is_nan());
        assert!(binary(BinaryOp::Max, f64::NAN, 1.0).is_nan());
        assert!(binary(BinaryOp::Min, 1.0, f64::NAN).is_nan());
        assert!(step(f64::NAN).is_nan() && sign(f64::NAN).is_nan());
        assert_eq!((step(0.0), step(2.0), sign(-0.0), sign(-3.0)), (0.0, 1.0, 0.0, -1.0));
        assert_eq!(unary(UnaryOp::Relu, -2.0), 0.0);
    }
}
