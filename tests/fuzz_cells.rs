//! Property tests of the whole compiler on generated *valid* cells (not random
//! text: `fuzz.rs` does that): random dims, inputs, states, vector, dense and
//! block parameters, `let`s, updates reading earlier `NAME'`s, and outputs, with
//! expressions of every operator, function and reduction. Every generated cell must check,
//! derive (or be refused as too large), give its IR and derivative texts, and
//! compile with both back ends: the WGSL kernels (forward and backward) through
//! naga's validator, and the CLIF kernels through cranelift's verifier. A back
//! end may refuse a cell it cannot compile (`BackendUnsupported`); generated code
//! that a validator rejects is a bug.
//!
//! CI runs a few dozen cases (a few seconds). A longer run:
//! `RNNC_FUZZ_CASES=5000 cargo test --release --test fuzz_cells`.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rnnc::compiler::backend::{clif, wgsl};
use rnnc::compiler::{ErrorKind, derive_cell};

/// Cases per property: `RNNC_FUZZ_CASES`, or `default`.
fn cases(default: u32) -> u32 {
    std::env::var("RNNC_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// An expression over abstract leaves, rendered in a context that says which
/// vector values exist where it is written.
#[derive(Clone, Debug)]
enum Expr {
    /// The `n`-th vector value available (modulo their number).
    Leaf(usize),
    /// A float literal (broadcast).
    Literal(usize),
    /// A matrix parameter times a vector value.
    MatVec(usize, Box<Expr>),
    Unary(usize, Box<Expr>),
    Neg(Box<Expr>),
    Binary(usize, Box<Expr>, Box<Expr>),
    /// `literal OP vector`.
    ScalarLeft(usize, usize, Box<Expr>),
    MinMax(bool, Box<Expr>, Box<Expr>),
    /// `REDUCTION(a) * b` (`sum`, `mean`, `max`, or `dot(a, b) * b`): a
    /// reduction's number broadcast onto a vector.
    Reduce(usize, Box<Expr>, Box<Expr>),
}

const REDUCTIONS: [&str; 4] = ["sum", "mean", "max", "dot"];

const LITERALS: [&str; 6] = ["0.5", "2", "1e-3", "1", "0.25", "3.5"];
const FUNCTIONS: [&str; 16] = [
    "tanh",
    "sigmoid",
    "exp",
    "log",
    "relu",
    "softplus",
    "silu",
    "sqrt",
    "abs",
    "sin",
    "cos",
    "log1p",
    "expm1",
    "erf",
    "logsigmoid",
    "gelu",
];
const OPERATORS: [&str; 4] = ["+", "-", "*", "/"];

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![4 => (0..64usize).prop_map(Expr::Leaf), 1 => (0..LITERALS.len()).prop_map(Expr::Literal)];
    leaf.prop_recursive(5, 24, 2, |inner| {
        prop_oneof![
            (0..8usize, inner.clone()).prop_map(|(m, e)| Expr::MatVec(m, Box::new(e))),
            (0..FUNCTIONS.len(), inner.clone()).prop_map(|(f, e)| Expr::Unary(f, Box::new(e))),
            inner.clone().prop_map(|e| Expr::Neg(Box::new(e))),
            (0..OPERATORS.len(), inner.clone(), inner.clone()).prop_map(|(o, a, b)| Expr::Binary(
                o,
                Box::new(a),
                Box::new(b)
            )),
            (0..OPERATORS.len(), 0..LITERALS.len(), inner.clone()).prop_map(|(o, l, e)| Expr::ScalarLeft(
                o,
                l,
                Box::new(e)
            )),
            (any::<bool>(), inner.clone(), inner.clone()).prop_map(|(m, a, b)| Expr::MinMax(
                m,
                Box::new(a),
                Box::new(b)
            )),
            (0..REDUCTIONS.len(), inner.clone(), inner).prop_map(|(r, a, b)| Expr::Reduce(r, Box::new(a), Box::new(b))),
        ]
    })
}

/// What an expression may use where it is written.
struct Scope<'a> {
    /// Vector values of shape [H].
    vectors: &'a [String],
    /// Matrix parameters `[H, H]` or `block[H, K]`, which multiply a vector [H].
    square: &'a [String],
    /// `[H, D]` matrix parameters and the inputs of length D.
    wide: &'a [(String, String)],
}

impl Expr {
    /// The expression as source text; always of shape [H].
    fn render(&self, scope: &Scope<'_>) -> String {
        match self {
            Expr::Leaf(n) => scope.vectors[n % scope.vectors.len()].clone(),
            // A lone literal would be a scalar: broadcast it onto a vector.
            Expr::Literal(l) => format!("({} * {})", LITERALS[*l], scope.vectors[l % scope.vectors.len()]),
            Expr::MatVec(m, e) => {
                let total = scope.square.len() + scope.wide.len();
                if total == 0 {
                    return e.render(scope);
                }
                match m % total {
                    // `@` binds tighter than unary minus: its operand is parenthesised.
                    i if i < scope.square.len() => format!("({} @ ({}))", scope.square[i], e.render(scope)),
                    i => {
                        let (matrix, input) = &scope.wide[i - scope.square.len()];
                        format!("({matrix} @ {input} + {})", e.render(scope))
                    }
                }
            }
            Expr::Unary(f, e) => format!("{}({})", FUNCTIONS[*f], e.render(scope)),
            Expr::Neg(e) => format!("-{}", e.render(scope)),
            Expr::Binary(o, a, b) => format!("({} {} {})", a.render(scope), OPERATORS[*o], b.render(scope)),
            Expr::ScalarLeft(o, l, e) => format!("({} {} {})", LITERALS[*l], OPERATORS[*o], e.render(scope)),
            Expr::MinMax(max, a, b) => {
                format!("{}({}, {})", if *max { "max" } else { "min" }, a.render(scope), b.render(scope))
            }
            Expr::Reduce(r, a, b) => {
                let (a, b) = (a.render(scope), b.render(scope));
                match REDUCTIONS[*r] {
                    "dot" => format!("(dot({a}, {b}) * {b})"),
                    reduction => format!("({reduction}({a}) * {b})"),
                }
            }
        }
    }
}

/// The shape of a generated cell; its expressions come separately.
#[derive(Clone, Debug)]
struct Layout {
    h: u64,
    d: u64,
    /// Inputs of length D (at least one input in all).
    wide_inputs: usize,
    /// Inputs of length H.
    square_inputs: usize,
    states: usize,
    vector_params: usize,
    dense_wide: usize,
    dense_square: usize,
    block: Option<u64>,
    lets: usize,
    /// Outputs that are expressions (every state is an output too, or only the first).
    expr_outputs: usize,
    all_states_out: bool,
}

fn layout() -> impl Strategy<Value = Layout> {
    (
        (prop::sample::select(vec![2u64, 4, 8]), prop::sample::select(vec![1u64, 3, 4])),
        (0..3usize, 0..2usize),
        1..4usize,
        (1..4usize, 0..3usize, 0..2usize, prop::option::of(prop::sample::select(vec![1u64, 2]))),
        0..5usize,
        (0..3usize, any::<bool>()),
    )
        .prop_map(
            |(
                (h, d),
                (wide_inputs, square_inputs),
                states,
                (vector_params, dense_wide, dense_square, block),
                lets,
                (expr_outputs, all_states_out),
            )| {
                let wide_inputs = if wide_inputs + square_inputs == 0 { 1 } else { wide_inputs };
                Layout {
                    h,
                    d,
                    wide_inputs,
                    square_inputs,
                    states,
                    vector_params,
                    dense_wide,
                    dense_square,
                    block,
                    lets,
                    expr_outputs,
                    all_states_out,
                }
            },
        )
}

/// A valid cell: its layout, and one expression per `let`, update and output.
fn cell() -> impl Strategy<Value = (Layout, Vec<Expr>)> {
    layout().prop_flat_map(|layout| {
        let count = layout.lets + layout.states + layout.expr_outputs;
        (Just(layout), proptest::collection::vec(expr(), count))
    })
}

fn source(layout: &Layout, exprs: &[Expr]) -> String {
    let mut text = String::from("/// A generated cell.\ncell gen {\n    dim H;\n    dim D;\n");
    let mut vectors: Vec<String> = Vec::new();
    let mut wide = Vec::new();
    let mut square = Vec::new();
    for i in 0..layout.wide_inputs {
        let _ = writeln!(text, "    input x{i}: [D];");
    }
    for i in 0..layout.square_inputs {
        let _ = writeln!(text, "    input u{i}: [H];");
        vectors.push(format!("u{i}"));
    }
    for i in 0..layout.states {
        let _ = writeln!(text, "    state s{i}: [H];");
        vectors.push(format!("s{i}"));
    }
    for i in 0..layout.vector_params {
        let _ = writeln!(text, "    param p{i}: [H];");
        vectors.push(format!("p{i}"));
    }
    for i in 0..layout.dense_wide {
        let _ = writeln!(text, "    param W{i}: [H, D];");
        wide.push((format!("W{i}"), format!("x{}", i % layout.wide_inputs.max(1))));
    }
    if layout.wide_inputs == 0 {
        wide.clear();
    }
    for i in 0..layout.dense_square {
        let _ = writeln!(text, "    param U{i}: [H, H];");
        square.push(format!("U{i}"));
    }
    if let Some(k) = layout.block {
        let _ = writeln!(text, "    param B0: block[H, {k}];");
        square.push("B0".to_owned());
    }
    let mut exprs = exprs.iter();
    for i in 0..layout.lets {
        let scope = Scope { vectors: &vectors, square: &square, wide: &wide };
        let _ = writeln!(text, "    let l{i} = {};", exprs.next().expect("one per let").render(&scope));
        vectors.push(format!("l{i}"));
    }
    for i in 0..layout.states {
        let scope = Scope { vectors: &vectors, square: &square, wide: &wide };
        let _ = writeln!(text, "    s{i}' = {};", exprs.next().expect("one per update").render(&scope));
        vectors.push(format!("s{i}'"));
    }
    for i in 0..layout.states {
        if i == 0 || layout.all_states_out {
            let _ = writeln!(text, "    output s{i};");
        }
    }
    for i in 0..layout.expr_outputs {
        let scope = Scope { vectors: &vectors, square: &square, wide: &wide };
        let _ = writeln!(text, "    output o{i} = {};", exprs.next().expect("one per output").render(&scope));
    }
    text.push_str("}\n");
    text
}

/// Everything the compiler does with a cell, for both back ends.
fn compile_everything(source: &str, layout: &Layout) {
    let start = Instant::now();
    let cells = rnnc::compiler::check_source(source).unwrap_or_else(|errors| {
        panic!("a generated cell must check:\n{}\n{}", source, rnnc::render_errors("gen.rnn", source, &errors))
    });
    let cell = &cells[0];
    let sizes = cell.bind_dims(|name| Some(if name == "H" { layout.h } else { layout.d })).expect("sizes bind");
    let derived = match derive_cell(cell) {
        Ok(derived) => derived,
        Err(error) if matches!(error.kind, ErrorKind::CellTooLarge { .. }) => return,
        Err(error) => panic!("derive failed: {error}\n{source}"),
    };
    assert!(derived.ir_text().contains("gen"), "{source}");
    assert!(!derived.jacobian_text().is_empty(), "{source}");
    let allowed = |error: &rnnc::Error| matches!(error.kind, ErrorKind::BackendUnsupported { .. });
    match wgsl::generate(&derived, &sizes, &wgsl::Target::default()) {
        Ok(forward) => {
            if let Err(error) = wgsl::generate_adjoint(&derived, &sizes, &forward.plan, forward.newton) {
                assert!(allowed(&error), "WGSL backward: {error}\n{source}");
            }
        }
        Err(error) => assert!(allowed(&error), "WGSL: {error}\n{source}"),
    }
    if let Err(error) = clif::clif_text(&derived, &sizes) {
        assert!(allowed(&error), "CLIF: {error}\n{source}");
    }
    assert!(start.elapsed() < Duration::from_secs(20), "took {:?}:\n{source}", start.elapsed());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_cells_check_derive_and_compile_on_both_back_ends((layout, exprs) in cell()) {
        compile_everything(&source(&layout, &exprs), &layout);
    }
}

/// The generator itself: a fixed cell renders as expected and compiles.
#[test]
fn the_generator_writes_valid_cells() {
    let layout = Layout {
        h: 4,
        d: 3,
        wide_inputs: 1,
        square_inputs: 1,
        states: 2,
        vector_params: 1,
        dense_wide: 1,
        dense_square: 1,
        block: Some(2),
        lets: 1,
        expr_outputs: 1,
        all_states_out: true,
    };
    let exprs = [
        Expr::Unary(0, Box::new(Expr::MatVec(2, Box::new(Expr::Leaf(1))))),
        Expr::Binary(2, Box::new(Expr::Leaf(2)), Box::new(Expr::Literal(0))),
        Expr::MinMax(true, Box::new(Expr::Leaf(5)), Box::new(Expr::MatVec(1, Box::new(Expr::Leaf(0))))),
        Expr::Neg(Box::new(Expr::Leaf(7))),
    ];
    let text = source(&layout, &exprs);
    assert!(text.contains("    let l0 = tanh((W0 @ x0 + s0));\n"), "{text}");
    assert!(text.contains("    s1' = max(s0', (B0 @ (u0)));\n"), "{text}");
    compile_everything(&text, &layout);
}
