//! The built-in functions as an editor shows them: a signature and what each
//! computes. The names and arities are the compiler's (`check::Builtin::ALL`);
//! a test keeps this table and that list in step.

use rnnc::compiler::check::{Builtin, Composite};

/// A built-in function: its name, signature and meaning.
#[derive(Clone, Copy, Debug)]
pub struct BuiltinDoc {
    /// The name, as called.
    pub name: &'static str,
    /// `tanh(x)`, `min(a, b)`.
    pub signature: &'static str,
    /// What it computes, elementwise.
    pub meaning: &'static str,
}

/// Every built-in function, in the compiler's order.
pub const BUILTINS: [BuiltinDoc; 25] = [
    BuiltinDoc { name: "tanh", signature: "tanh(x)", meaning: "hyperbolic tangent" },
    BuiltinDoc { name: "sigmoid", signature: "sigmoid(x)", meaning: "1 / (1 + exp(-x))" },
    BuiltinDoc { name: "exp", signature: "exp(x)", meaning: "e to the power x" },
    BuiltinDoc { name: "log", signature: "log(x)", meaning: "natural logarithm" },
    BuiltinDoc { name: "relu", signature: "relu(x)", meaning: "max(x, 0)" },
    BuiltinDoc { name: "softplus", signature: "softplus(x)", meaning: "log(1 + exp(x))" },
    BuiltinDoc { name: "silu", signature: "silu(x)", meaning: "x * sigmoid(x)" },
    BuiltinDoc { name: "sqrt", signature: "sqrt(x)", meaning: "square root" },
    BuiltinDoc { name: "abs", signature: "abs(x)", meaning: "absolute value" },
    BuiltinDoc { name: "sin", signature: "sin(x)", meaning: "sine" },
    BuiltinDoc { name: "cos", signature: "cos(x)", meaning: "cosine" },
    BuiltinDoc { name: "min", signature: "min(a, b)", meaning: "the smaller of a and b; a scalar broadcasts" },
    BuiltinDoc {
        name: "max",
        signature: "max(a, b)",
        meaning: "the larger of a and b; a scalar broadcasts. `max(v)`, one argument: the largest element of v",
    },
    BuiltinDoc { name: "log1p", signature: "log1p(x)", meaning: "log(1 + x), accurate near 0" },
    BuiltinDoc { name: "expm1", signature: "expm1(x)", meaning: "exp(x) - 1, accurate near 0" },
    BuiltinDoc { name: "erf", signature: "erf(x)", meaning: "the error function" },
    BuiltinDoc { name: "pow", signature: "pow(x, p)", meaning: "x to the constant power p (also `x ^ p`)" },
    BuiltinDoc { name: "logsigmoid", signature: "logsigmoid(x)", meaning: "log(sigmoid(x)) = -softplus(-x)" },
    BuiltinDoc { name: "clamp", signature: "clamp(x, lo, hi)", meaning: "min(max(x, lo), hi)" },
    BuiltinDoc { name: "gelu", signature: "gelu(x)", meaning: "x * (1 + erf(x / sqrt(2))) / 2 (exact GELU)" },
    BuiltinDoc { name: "sum", signature: "sum(v)", meaning: "the sum of the elements of v, broadcast like a number" },
    BuiltinDoc {
        name: "mean",
        signature: "mean(v)",
        meaning: "the mean of the elements of v, broadcast like a number",
    },
    BuiltinDoc { name: "dot", signature: "dot(a, b)", meaning: "sum(a * b), broadcast like a number" },
    BuiltinDoc { name: "concat", signature: "concat(a, b)", meaning: "the elements of a, then those of b" },
    BuiltinDoc {
        name: "outer",
        signature: "outer(u, v)",
        meaning: "the matrix of u[r] * v[c], row r and column c (outer product)",
    },
];

/// The built-in called `name`.
pub fn builtin(name: &str) -> Option<&'static BuiltinDoc> {
    Builtin::by_name(name)?;
    BUILTINS.iter().find(|b| b.name == name)
}

/// `tanh(x) -> shape of x`: the signature with the shape rule.
pub fn signature_line(doc: &BuiltinDoc) -> String {
    match Builtin::by_name(doc.name) {
        Some(Builtin::Reduction(_) | Builtin::Composite(Composite::Dot)) => format!("{} -> a number", doc.signature),
        Some(Builtin::Concat) => format!("{} -> [size of a + size of b]", doc.signature),
        Some(Builtin::Outer) => format!("{} -> [size of u, size of v]", doc.signature),
        Some(b) if b.arity() == 2 => format!("{} -> shape of a or b", doc.signature),
        _ => format!("{} -> shape of x", doc.signature),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_the_compilers_list_of_builtins() {
        let names: Vec<&str> = BUILTINS.iter().map(|b| b.name).collect();
        let compiler: Vec<&str> = Builtin::ALL.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, compiler);
        for (doc, (_, builtin)) in BUILTINS.iter().zip(Builtin::ALL) {
            assert_eq!(doc.signature.matches(',').count() + 1, builtin.arity(), "{}", doc.name);
        }
    }
}
