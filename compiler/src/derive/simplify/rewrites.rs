//! The rewrite rules: identities of real arithmetic that make derivative
//! expressions smaller. They are sound for real numbers; like every algebraic
//! simplifier they may turn a NaN or an infinity into a finite value (`x * 0 = 0`),
//! which only matters where the step itself is not finite.

use egg::{Rewrite, rewrite};

use super::language::{ConstantFold, Term};

/// Every rule, in a fixed order (the order is part of what makes results
/// deterministic).
pub(crate) fn rules() -> Vec<Rewrite<Term, ConstantFold>> {
    vec![
        // Order and grouping.
        rewrite!("add-commute"; "(+ ?a ?b)" => "(+ ?b ?a)"),
        rewrite!("mul-commute"; "(* ?a ?b)" => "(* ?b ?a)"),
        rewrite!("add-associate"; "(+ ?a (+ ?b ?c))" => "(+ (+ ?a ?b) ?c)"),
        rewrite!("mul-associate"; "(* ?a (* ?b ?c))" => "(* (* ?a ?b) ?c)"),
        // Neutral and absorbing elements.
        rewrite!("add-zero"; "(+ ?a 0.0)" => "?a"),
        rewrite!("sub-zero"; "(- ?a 0.0)" => "?a"),
        rewrite!("zero-sub"; "(- 0.0 ?a)" => "(neg ?a)"),
        rewrite!("mul-one"; "(* ?a 1.0)" => "?a"),
        rewrite!("mul-zero"; "(* ?a 0.0)" => "0.0"),
        rewrite!("div-one"; "(/ ?a 1.0)" => "?a"),
        rewrite!("sub-self"; "(- ?a ?a)" => "0.0"),
        // Signs.
        rewrite!("neg-neg"; "(neg (neg ?a))" => "?a"),
        rewrite!("mul-minus-one"; "(* ?a -1.0)" => "(neg ?a)"),
        rewrite!("mul-neg"; "(* (neg ?a) ?b)" => "(neg (* ?a ?b))"),
        rewrite!("neg-mul"; "(neg (* ?a ?b))" => "(* (neg ?a) ?b)"),
        rewrite!("add-neg"; "(+ ?a (neg ?b))" => "(- ?a ?b)"),
        rewrite!("sub-neg"; "(- ?a (neg ?b))" => "(+ ?a ?b)"),
        rewrite!("neg-sub"; "(neg (- ?a ?b))" => "(- ?b ?a)"),
        rewrite!("sub-as-add"; "(- ?a ?b)" => "(+ ?a (neg ?b))"),
        // Factoring (never distributing, which only grows terms).
        rewrite!("factor"; "(+ (* ?a ?b) (* ?a ?c))" => "(* ?a (+ ?b ?c))"),
        rewrite!("factor-sub"; "(- (* ?a ?b) (* ?a ?c))" => "(* ?a (- ?b ?c))"),
        rewrite!("factor-one"; "(+ ?a (* ?a ?b))" => "(* ?a (+ 1.0 ?b))"),
        rewrite!("double"; "(+ ?a ?a)" => "(* 2.0 ?a)"),
        // Quotients.
        rewrite!("mul-div"; "(* ?a (/ ?b ?c))" => "(/ (* ?a ?b) ?c)"),
        rewrite!("div-mul"; "(/ (* ?a ?b) ?c)" => "(* ?a (/ ?b ?c))"),
        rewrite!("neg-div"; "(/ (neg ?a) ?b)" => "(neg (/ ?a ?b))"),
        // Powers (exponents are constants) and the exact-near-zero functions.
        rewrite!("pow-one"; "(pow ?a 1.0)" => "?a"),
        rewrite!("pow-two"; "(pow ?a 2.0)" => "(* ?a ?a)"),
        rewrite!("pow-minus-one"; "(pow ?a -1.0)" => "(/ 1.0 ?a)"),
        rewrite!("pow-half"; "(pow ?a 0.5)" => "(sqrt ?a)"),
        rewrite!("expm1-plus-one"; "(+ (expm1 ?a) 1.0)" => "(exp ?a)"),
        rewrite!("exp-minus-one"; "(- (exp ?a) 1.0)" => "(expm1 ?a)"),
        rewrite!("log-one-plus"; "(log (+ 1.0 ?a))" => "(log1p ?a)"),
        rewrite!("erf-odd"; "(erf (neg ?a))" => "(neg (erf ?a))"),
        // Derivative helpers.
        rewrite!("step-idempotent"; "(* (step ?a) (step ?a))" => "(step ?a)"),
        rewrite!("sign-square"; "(* (sign ?a) (abs ?a))" => "?a"),
    ]
}
