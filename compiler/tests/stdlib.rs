//! The shipped cells: structure, hoisting, and every derivative against finite
//! differences; sequences against backpropagation through time.

mod common;

use rnnc_compiler::analyse::JacobianStructure;
use rnnc_compiler::interp::{Interpreter, Sequences};
use rnnc_compiler::{Derived, check_source, derive_cell};

fn derived(name: &str) -> Derived {
    let source = rnnc_stdlib::get(name).expect("a stdlib cell").source;
    let cells = check_source(source).expect("stdlib cells check");
    derive_cell(&cells[0]).expect("stdlib cells derive")
}

#[test]
fn structures_are_proved_right() {
    let expected = [
        ("para_gru", JacobianStructure::Diagonal),
        ("indrnn", JacobianStructure::Diagonal),
        ("mingru", JacobianStructure::Diagonal),
        ("para_lstm", JacobianStructure::BlockDiagonal { block: 2 }),
        ("para_gru_mh", JacobianStructure::Diagonal),
        ("para_lstm_cifg_mh", JacobianStructure::BlockDiagonal { block: 2 }),
        ("block_elman", JacobianStructure::BlockDiagonal { block: 4 }),
        ("gru", JacobianStructure::Dense),
        ("lstm", JacobianStructure::Dense),
        ("elman", JacobianStructure::Dense),
        ("cornn", JacobianStructure::Dense),
        ("minlstm", JacobianStructure::Diagonal),
        ("mamba_ssm", JacobianStructure::Diagonal),
        ("slstm", JacobianStructure::BlockDiagonal { block: 8 }),
        ("torch_gru", JacobianStructure::Dense),
    ];
    assert_eq!(expected.len(), rnnc_stdlib::CELLS.len(), "every stdlib cell has an expectation");
    for (name, structure) in expected {
        let derived = derived(name);
        assert_eq!(derived.structure(), structure, "{name}: {}", derived.jacobian.reason);
        assert_eq!(derived.structure().block(), structure.block());
    }
    assert_eq!(JacobianStructure::BlockDiagonal { block: 2 }.name(), "block-diagonal");
    assert_eq!(JacobianStructure::Dense.block(), None);
}

/// The linear cells (gates from the input only) are proved linear, the others
/// not; and a cell proved linear is affine in its states at random points of
/// the float64 interpreter: `f(a h1 + (1 - a) h2) = a f(h1) + (1 - a) f(h2)`.
#[test]
fn linear_cells_are_proved_linear_and_are_affine() {
    let linear = ["mingru", "minlstm", "mamba_ssm"];
    for (seed, shipped) in rnnc_stdlib::CELLS.iter().enumerate() {
        let derived = derived(shipped.name);
        assert_eq!(derived.is_linear(), linear.contains(&shipped.name), "{}", shipped.name);
        if !derived.is_linear() || derived.cell.largest_block() > rnnc_stdlib::LARGEST_SMALL_TEST_BLOCK {
            continue;
        }
        let cell = &derived.cell;
        let sizes = common::small_sizes(cell);
        let mut rng = common::Rng::new(31 + seed as u64);
        let params = common::random_params(cell, &sizes, &mut rng);
        let interp = Interpreter::new(cell, &derived.ir, &sizes, &params).expect("fits");
        let (inputs, first) = common::random_point(&interp, &mut rng);
        let second: Vec<Vec<f64>> = first.iter().map(|s| rng.vector(s.len(), 3.0)).collect();
        let a = 0.3;
        let mixed: Vec<Vec<f64>> = first
            .iter()
            .zip(&second)
            .map(|(u, v)| u.iter().zip(v).map(|(u, v)| a * u + (1.0 - a) * v).collect())
            .collect();
        let update = |states: &[Vec<f64>]| {
            let evaluation = interp.evaluate(&common::slices(&inputs), &common::slices(states)).expect("evaluates");
            interp.updates(&evaluation)
        };
        let (at_first, at_second, at_mixed) = (update(&first), update(&second), update(&mixed));
        for (i, value) in at_mixed.iter().enumerate() {
            for (k, &value) in value.iter().enumerate() {
                let expected = a * at_first[i][k] + (1.0 - a) * at_second[i][k];
                assert!(
                    (value - expected).abs() <= 1e-12 * (1.0 + expected.abs()),
                    "{}: {value} vs {expected}",
                    shipped.name
                );
            }
        }
    }
}

#[test]
fn input_projections_with_their_biases_are_hoisted() {
    let expected = [
        ("para_gru", 3),
        ("para_lstm", 3),
        ("para_gru_mh", 3),
        ("para_lstm_cifg_mh", 3),
        ("gru", 3),
        ("lstm", 4),
        ("mingru", 2),
        ("elman", 1),
        ("indrnn", 1),
    ];
    for (name, count) in expected {
        let derived = derived(name);
        assert_eq!(derived.hoisting.nodes.len(), count, "{name}");
        for &node in &derived.hoisting.nodes {
            assert!(!derived.hoisting.state_dependent[node.index()], "{name}: a hoisted node reads the state");
        }
    }
    // ParaGRU's `az * h + Bz @ x + bz` is lowered as `(Bz @ x + bz) + az * h`:
    // the hoisted node is the projection with its bias.
    let para_gru = derived("para_gru");
    let text = para_gru.ir_text();
    for &node in &para_gru.hoisting.nodes {
        let line = text.lines().find(|l| l.trim_start().starts_with(&format!("v{} = ", node.index()))).expect("listed");
        assert!(line.contains("add"), "{line}");
    }
}

#[test]
fn every_derivative_matches_finite_differences() {
    for (seed, cell) in rnnc_stdlib::CELLS.iter().enumerate() {
        let derived = derived(cell.name);
        // Cells with blocks of 512 (ParaRNN's multi-head models) would be checked
        // at H = 512, entry by entry; their blocks are checked through
        // `block_elman` here, and the models against their published equations
        // in `runtime/tests/pararnn_models.rs`.
        if derived.cell.largest_block() > rnnc_stdlib::LARGEST_SMALL_TEST_BLOCK {
            continue;
        }
        if let Err(error) = common::check_derivatives(&derived, 7 + seed as u64, 4) {
            panic!("{}: {error}", cell.name);
        }
    }
}

/// Backpropagation through time with the derived Jacobians against central
/// differences of the whole sequence's loss `sum(dout * output)`.
#[test]
fn sequence_gradients_match_finite_differences() {
    for name in ["para_gru", "para_lstm", "block_elman", "lstm"] {
        let derived = derived(name);
        let cell = &derived.cell;
        let sizes = common::small_sizes(cell);
        let mut rng = common::Rng::new(99);
        let params = common::random_params(cell, &sizes, &mut rng);
        let interp = Interpreter::new(cell, &derived.ir, &sizes, &params).expect("fits");
        let (batch, steps) = (2, 4);
        let inputs: Vec<Vec<f64>> = interp.input_lens().iter().map(|d| rng.vector(batch * steps * d, 1.0)).collect();
        let initial: Vec<Vec<f64>> = interp.state_lens().iter().map(|h| rng.vector(batch * h, 0.5)).collect();
        let douts: Vec<Vec<f64>> = interp.output_lens().iter().map(|h| rng.vector(batch * steps * h, 1.0)).collect();
        let loss = |interp: &Interpreter<'_>, inputs: &[Vec<f64>], initial: &[Vec<f64>]| {
            let input_slices = common::slices(inputs);
            let initial_slices: Vec<Option<&[f64]>> = initial.iter().map(|v| Some(v.as_slice())).collect();
            let sequences = Sequences { batch, steps, inputs: &input_slices, initial: &initial_slices };
            let run = interp.run_sequence(&sequences).expect("runs");
            run.outputs.iter().zip(&douts).map(|(o, d)| o.iter().zip(d).map(|(a, b)| a * b).sum::<f64>()).sum::<f64>()
        };
        let input_slices = common::slices(&inputs);
        let initial_slices: Vec<Option<&[f64]>> = initial.iter().map(|v| Some(v.as_slice())).collect();
        let sequences = Sequences { batch, steps, inputs: &input_slices, initial: &initial_slices };
        let dout_slices = common::slices(&douts);
        let gradients = interp.backward_sequence(&derived.derivatives, &sequences, &dout_slices).expect("runs");
        let h = 1e-5;
        let close = |what: String, exact: f64, numeric: f64| {
            assert!(
                (exact - numeric).abs() <= 1e-6 * exact.abs().max(numeric.abs()) + 1e-8,
                "{name} {what}: {exact} vs {numeric}"
            );
        };
        for (p, param) in cell.params.iter() {
            for k in 0..params.get(p).len() {
                let moved = |delta: f64| {
                    let mut moved = params.clone();
                    moved.get_mut(p)[k] += delta;
                    let interp = Interpreter::new(cell, &derived.ir, &sizes, &moved).expect("fits");
                    loss(&interp, &inputs, &initial)
                };
                close(
                    format!("param {}[{k}]", param.name),
                    gradients.params[p.index()][k],
                    (moved(h) - moved(-h)) / (2.0 * h),
                );
            }
        }
        for (i, input) in inputs.iter().enumerate() {
            for k in 0..input.len() {
                let moved = |delta: f64| {
                    let mut moved = inputs.clone();
                    moved[i][k] += delta;
                    loss(&interp, &moved, &initial)
                };
                close(format!("input {i}[{k}]"), gradients.inputs[i][k], (moved(h) - moved(-h)) / (2.0 * h));
            }
        }
        for (s, state) in initial.iter().enumerate() {
            for k in 0..state.len() {
                let moved = |delta: f64| {
                    let mut moved = initial.clone();
                    moved[s][k] += delta;
                    loss(&interp, &inputs, &moved)
                };
                close(format!("initial {s}[{k}]"), gradients.initial[s][k], (moved(h) - moved(-h)) / (2.0 * h));
            }
        }
    }
}
