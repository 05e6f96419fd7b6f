//! The step's adjoint (`derive::adjoint`) against central differences: for every
//! shipped and test cell, at random points and random cotangents, the gradient it
//! gives (states, inputs with their projections, every parameter) dotted with a
//! random direction equals the directional derivative of
//! `L = sum mu_i . s_i' + sum dout_o . o` computed by the float64 interpreter.

mod common;

use common::{Rng, random_params, random_point, slices, small_sizes};
use rnnc_compiler::check::{DimSizes, ParamShape};
use rnnc_compiler::derive::adjoint::{Adjoint, ParamAdjoint};
use rnnc_compiler::interp::{Evaluation, Interpreter, ParamValues};
use rnnc_compiler::ir::Op;
use rnnc_compiler::{Derived, check_source, derive_cell};

fn all_cells() -> Vec<Derived> {
    let mut sources: Vec<String> = rnnc_stdlib::CELLS.iter().map(|c| c.source.to_owned()).collect();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/filetests");
    let mut files: Vec<_> = std::fs::read_dir(dir).expect("filetests").map(|e| e.expect("entry").path()).collect();
    files.sort();
    sources.extend(files.iter().map(|f| std::fs::read_to_string(f).expect("readable")));
    sources
        .iter()
        .flat_map(|s| check_source(s).expect("checks"))
        .map(|cell| derive_cell(&cell).expect("derives"))
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `L` at a point: the cotangents dotted with every result.
fn loss(interp: &Interpreter<'_>, inputs: &[Vec<f64>], states: &[Vec<f64>], seeds: &[Vec<f64>]) -> f64 {
    let evaluation = interp.evaluate(&slices(inputs), &slices(states)).expect("evaluates");
    let mut results = interp.updates(&evaluation);
    results.extend(interp.outputs(&evaluation));
    results.iter().zip(seeds).map(|(r, s)| dot(r, s)).sum()
}

/// The parameter gradient `a ⊗ u` of one product, in the parameter's layout.
fn add_outer(shape: ParamShape, sizes: &DimSizes, gradient: &mut [f64], a: &[f64], u: &[f64]) {
    match shape {
        ParamShape::Matrix { cols, .. } => {
            let cols = sizes.of(cols) as usize;
            for (r, &ar) in a.iter().enumerate() {
                for (c, &uc) in u.iter().enumerate() {
                    gradient[r * cols + c] += ar * uc;
                }
            }
        }
        ParamShape::Block { block, .. } => {
            let k = block as usize;
            for (r, &ar) in a.iter().enumerate() {
                for q in 0..k {
                    let c = r / k * k + q;
                    gradient[r / k * k * k + r % k * k + q] += ar * u[c];
                }
            }
        }
        ParamShape::Vector(_) => unreachable!("vector parameters have no products"),
    }
}

/// `W^T a` for a dense `[rows, cols]` parameter.
fn transpose_times(values: &[f64], cols: usize, a: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; cols];
    for (r, &ar) in a.iter().enumerate() {
        for (c, o) in out.iter_mut().enumerate() {
            *o += values[r * cols + c] * ar;
        }
    }
    out
}

struct Gradient {
    states: Vec<Vec<f64>>,
    inputs: Vec<Vec<f64>>,
    params: Vec<Vec<f64>>,
}

/// Assembles the whole gradient from the adjoint's values, as a backward pass does.
fn gradient(
    derived: &Derived,
    interp: &Interpreter<'_>,
    dims: &DimSizes,
    params: &ParamValues,
    at: &Evaluation,
) -> Gradient {
    let adjoint: &Adjoint = &derived.adjoint;
    let graph = &derived.ir.graph;
    let sizes = interp.state_lens();
    let value = |node, len| at.value(node).to_vector(len);
    let len_of = |node| match graph.node(node).shape {
        rnnc_compiler::ir::Shape::Vector(size) => interp.size(size),
        rnnc_compiler::ir::Shape::Scalar => 1,
    };
    let states = adjoint.states.iter().zip(&sizes).map(|(&n, &h)| value(n, h)).collect();
    let mut inputs: Vec<Vec<f64>> =
        adjoint.inputs.iter().zip(interp.input_lens()).map(|(n, d)| n.map_or(vec![0.0; d], |n| value(n, d))).collect();
    let mut grads: Vec<Vec<f64>> = derived.cell.params.iter().map(|(h, _)| vec![0.0; params.get(h).len()]).collect();
    for (p, share) in adjoint.params.iter().enumerate() {
        let shape = derived.cell.params.values().nth(p).expect("param").shape;
        match share {
            ParamAdjoint::Vector(Some(n)) => grads[p] = value(*n, grads[p].len()),
            ParamAdjoint::Vector(None) => {}
            ParamAdjoint::Matrix(uses) => {
                for u in uses {
                    let a = value(u.adjoint, len_of(u.product));
                    let operand = value(u.operand, len_of(u.operand));
                    add_outer(shape, dims, &mut grads[p], &a, &operand);
                }
            }
        }
    }
    for projection in &adjoint.projections {
        let Op::MatVec(param, x) = graph.node(projection.node).op else { panic!("a projection is a product") };
        let Op::Input(input) = graph.node(x).op else { panic!("of an input") };
        let shape = derived.cell.params[param].shape;
        let a = value(projection.adjoint, len_of(projection.node));
        let xv = value(x, len_of(x));
        add_outer(shape, dims, &mut grads[param.index()], &a, &xv);
        let back = match shape {
            ParamShape::Matrix { cols, .. } => transpose_times(params.get(param), dims.of(cols) as usize, &a),
            ParamShape::Block { block, .. } => block_transpose_times(params.get(param), block as usize, &a),
            ParamShape::Vector(_) => panic!("a projection's matrix is a matrix"),
        };
        for (g, b) in inputs[input.index()].iter_mut().zip(back) {
            *g += b;
        }
    }
    Gradient { states, inputs, params: grads }
}

#[test]
fn the_adjoint_is_the_gradient_of_the_step() {
    let cells = all_cells();
    assert!(cells.len() >= 28, "every shipped and test cell ({} found)", cells.len());
    for (number, derived) in cells.iter().enumerate() {
        let name = &derived.cell.name;
        let sizes = small_sizes(&derived.cell);
        let mut rng = Rng::new(7 + number as u64);
        let params = random_params(&derived.cell, &sizes, &mut rng);
        let interp = derived.interpreter(&sizes, &params).expect("interpreter");
        for point in 0..3 {
            let (inputs, states) = random_point(&interp, &mut rng);
            let mu: Vec<Vec<f64>> = interp.state_lens().iter().map(|&h| rng.vector(h, 1.0)).collect();
            let douts: Vec<Vec<f64>> = interp.output_lens().iter().map(|&h| rng.vector(h, 1.0)).collect();
            let seeds: Vec<Vec<f64>> = mu.iter().chain(&douts).cloned().collect();
            let at =
                interp.evaluate_with_seeds(&slices(&inputs), &slices(&states), &slices(&seeds)).expect("evaluates");
            let grad = gradient(derived, &interp, &sizes, &params, &at);

            // The direct part is the state cotangent with the states' seeds at zero.
            let zero_mu: Vec<Vec<f64>> = mu.iter().map(|m| vec![0.0; m.len()]).collect();
            let outputs_only: Vec<Vec<f64>> = zero_mu.iter().chain(&douts).cloned().collect();
            let at_zero =
                interp.evaluate_with_seeds(&slices(&inputs), &slices(&states), &slices(&outputs_only)).expect("ok");
            for ((&full, &direct), &h) in
                derived.adjoint.states.iter().zip(&derived.adjoint.direct).zip(&interp.state_lens())
            {
                let (a, b) = (at_zero.value(full).to_vector(h), at.value(direct).to_vector(h));
                assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= 1e-12 * (1.0 + x.abs())), "{name}: direct part");
            }

            // Along a random direction of every variable at once.
            let ds: Vec<Vec<f64>> = states.iter().map(|s| rng.vector(s.len(), 1.0)).collect();
            let dx: Vec<Vec<f64>> = inputs.iter().map(|x| rng.vector(x.len(), 1.0)).collect();
            let dp: Vec<Vec<f64>> = grad.params.iter().map(|g| rng.vector(g.len(), 1.0)).collect();
            let moved = |epsilon: f64| {
                let shift = |v: &[Vec<f64>], d: &[Vec<f64>]| -> Vec<Vec<f64>> {
                    v.iter().zip(d).map(|(a, b)| a.iter().zip(b).map(|(x, y)| x + epsilon * y).collect()).collect()
                };
                let mut p = params.clone();
                for (i, (h, _)) in derived.cell.params.iter().enumerate() {
                    let values: Vec<f64> = p.get(h).iter().zip(&dp[i]).map(|(x, y)| x + epsilon * y).collect();
                    p.set(h, values).expect("same length");
                }
                let interp = derived.interpreter(&sizes, &p).expect("interpreter");
                loss(&interp, &shift(&inputs, &dx), &shift(&states, &ds), &seeds)
            };
            let step = 1e-5;
            let numeric = (moved(step) - moved(-step)) / (2.0 * step);
            let analytic: f64 = grad.states.iter().zip(&ds).map(|(g, d)| dot(g, d)).sum::<f64>()
                + grad.inputs.iter().zip(&dx).map(|(g, d)| dot(g, d)).sum::<f64>()
                + grad.params.iter().zip(&dp).map(|(g, d)| dot(g, d)).sum::<f64>();
            let error = (numeric - analytic).abs();
            assert!(
                error <= 1e-6 * numeric.abs().max(1.0),
                "{name}, point {point}: the adjoint gives {analytic:e}, finite differences {numeric:e}"
            );
        }
    }
}

/// `W^T a` for a `block[H, K]` matrix stored as `[H/K, K, K]`.
fn block_transpose_times(w: &[f64], block: usize, a: &[f64]) -> Vec<f64> {
    let mut back = vec![0.0; a.len()];
    for (g, blk) in w.chunks(block * block).enumerate() {
        for j in 0..block {
            for q in 0..block {
                back[g * block + q] += blk[j * block + q] * a[g * block + j];
            }
        }
    }
    back
}
