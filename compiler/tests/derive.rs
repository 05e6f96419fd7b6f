//! The derivation pipeline as a whole: simplification keeps values, results are
//! deterministic, limits are honoured and reported, deep inputs do not recurse,
//! malformed input is an error, and the text forms read as documented.

mod common;

use std::time::Duration;

use rnnc_compiler::derive::{SimplifyLimits, StopReason};
use rnnc_compiler::interp::{InterpError, Interpreter, ParamValues};
use rnnc_compiler::{Derived, ErrorKind, check_source, derive_cell, derive_cell_with};

/// Every stdlib and filetest cell, but those with blocks over
/// `LARGEST_SMALL_TEST_BLOCK` (ParaRNN's multi-head models, heads of 512
/// channels: their derivatives would be evaluated densely at H = 512;
/// `runtime/tests/pararnn_models.rs` checks them).
fn all_cells() -> Vec<rnnc_compiler::Cell> {
    let mut cells = Vec::new();
    for cell in rnnc_stdlib::CELLS {
        cells.extend(
            check_source(cell.source)
                .expect("checks")
                .into_iter()
                .filter(|c| c.largest_block() <= rnnc_stdlib::LARGEST_SMALL_TEST_BLOCK),
        );
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/filetests");
    let mut paths: Vec<_> = std::fs::read_dir(dir).expect("exists").filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths.iter().filter(|p| p.extension().is_some_and(|e| e == "rnn")) {
        cells.extend(check_source(&std::fs::read_to_string(path).expect("readable")).expect("checks"));
    }
    cells
}

/// Every derivative, evaluated densely at one random point.
fn derivative_values(derived: &Derived, seed: u64) -> Vec<Vec<f64>> {
    let cell = &derived.cell;
    let sizes = common::small_sizes(cell);
    let mut rng = common::Rng::new(seed);
    let params = common::random_params(cell, &sizes, &mut rng);
    let interp = Interpreter::new(cell, &derived.ir, &sizes, &params).expect("fits");
    let (inputs, states) = common::random_point(&interp, &mut rng);
    let evaluation = interp.evaluate(&common::slices(&inputs), &common::slices(&states)).expect("evaluates");
    let lens: Vec<usize> = interp.state_lens().into_iter().chain(interp.output_lens()).collect();
    let results = derived.derivatives.updates.iter().chain(&derived.derivatives.outputs);
    let mut values = Vec::new();
    for (result, len) in results.zip(lens) {
        let maps = &derived.derivatives.maps;
        for j in 0..cell.states.len() {
            values.push(interp.state_derivative(&evaluation, maps, result, len, j).data);
        }
        for i in 0..cell.inputs.len() {
            values.push(interp.input_jacobian(&evaluation, maps, result, len, i).data);
        }
        for (p, _) in cell.params.iter() {
            values.push(interp.param_jacobian(&evaluation, maps, result, len, p).data);
        }
    }
    values
}

#[test]
fn simplification_keeps_every_value() {
    let unsimplified = SimplifyLimits { input_nodes: 0, ..SimplifyLimits::default() };
    for cell in all_cells() {
        let plain = derive_cell_with(&cell, &unsimplified).expect("derives");
        assert!(matches!(plain.simplify.stop_reason, StopReason::Skipped { .. } | StopReason::NothingToSimplify));
        let simplified = derive_cell(&cell).expect("derives");
        assert!(simplified.simplify.cost_after <= simplified.simplify.cost_before, "{}", cell.name);
        assert_eq!(plain.structure(), simplified.structure(), "{}", cell.name);
        for (a, b) in derivative_values(&plain, 5).iter().zip(&derivative_values(&simplified, 5)) {
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() <= 1e-12 * (1.0 + x.abs()), "{}: {x} vs {y}", cell.name);
            }
        }
    }
}

#[test]
fn derived_cells_can_cross_threads() {
    fn send_and_share<T: Send + Sync>() {}
    send_and_share::<Derived>();
}

#[test]
fn derivation_is_deterministic() {
    for cell in all_cells() {
        let first = derive_cell(&cell).expect("derives").jacobian_text();
        let second = derive_cell(&cell).expect("derives").jacobian_text();
        assert_eq!(first, second, "{}", cell.name);
    }
}

#[test]
fn every_limit_stops_the_rewriting_and_is_reported() {
    let source = rnnc_stdlib::get("para_lstm").expect("shipped").source;
    let cell = &check_source(source).expect("checks")[0];
    let limits = [
        (SimplifyLimits { iterations: 1, ..SimplifyLimits::default() }, "iterations"),
        (SimplifyLimits { nodes: 50, ..SimplifyLimits::default() }, "nodes"),
        (SimplifyLimits { time: Duration::ZERO, ..SimplifyLimits::default() }, "time"),
    ];
    for (limit, what) in limits {
        let derived = derive_cell_with(cell, &limit).expect("derives");
        let report = &derived.simplify;
        match (what, &report.stop_reason) {
            ("iterations", StopReason::IterationLimit(1)) => assert_eq!(report.iterations, 1),
            ("nodes", StopReason::NodeLimit(size)) => assert!(*size >= 50),
            ("time", StopReason::TimeLimit(_)) => {}
            (what, other) => panic!("the {what} limit gave {other:?}"),
        }
        common::check_derivatives(&derived, 3, 1).unwrap_or_else(|e| panic!("{what}: {e}"));
    }
}

/// A long chain of `let`s and a long sum: no pass may recurse on expression depth
/// (this runs on a thread with a small stack).
#[test]
fn deep_expressions_do_not_recurse() {
    let depth = 2_000;
    let mut source =
        String::from("cell deep {\n dim H;\n input x: [H];\n state h: [H];\n param a: [H];\n let l0 = h;\n");
    for i in 1..=depth {
        source.push_str(&format!(" let l{i} = tanh(a * l{} + 0.5 * x);\n", i - 1));
    }
    let sum: Vec<String> = (0..depth).map(|i| format!("l{i}")).collect();
    source.push_str(&format!(" h' = 0.001 * ({});\n output h;\n}}\n", sum.join(" + ")));
    let cells = check_source(&source).expect("checks");
    let worker = std::thread::Builder::new().stack_size(256 * 1024).spawn(move || {
        let derived = derive_cell(&cells[0]).expect("derives");
        let _ = derived.jacobian_text();
        derived.structure()
    });
    let structure = worker.expect("spawns").join().expect("no stack overflow");
    assert_eq!(structure, rnnc_compiler::analyse::JacobianStructure::Diagonal);
}

#[test]
fn a_malformed_cell_is_an_error_not_a_panic() {
    let source = rnnc_stdlib::get("indrnn").expect("shipped").source;
    let mut cell = check_source(source).expect("checks").remove(0);
    let handle = cell.states.handles().next().expect("a state");
    cell.states[handle].update = rnnc_compiler::arena::Handle::from_index(10_000);
    let error = derive_cell(&cell).expect_err("malformed");
    assert!(matches!(error.kind, ErrorKind::MalformedCell { .. }), "{error}");
}

#[test]
fn the_interpreter_rejects_wrong_lengths() {
    let source = rnnc_stdlib::get("para_gru").expect("shipped").source;
    let derived = derive_cell(&check_source(source).expect("checks")[0]).expect("derives");
    let cell = &derived.cell;
    let sizes = cell.bind_dims(|name| Some(if name == "H" { 3 } else { 2 })).expect("binds");
    let params = ParamValues::zeros(cell, &sizes);
    let interp = Interpreter::new(cell, &derived.ir, &sizes, &params).expect("fits");
    let error = interp.evaluate(&[&[0.0; 5]], &[&[0.0; 3]]).expect_err("x has 2 values");
    assert_eq!(error, InterpError::WrongLength { what: "input x".into(), expected: 2, found: 5 });
    let error = interp.evaluate(&[], &[&[0.0; 3]]).expect_err("no input");
    assert!(matches!(error, InterpError::WrongCount { what: "inputs", expected: 1, found: 0 }));
    let mut short = params.clone();
    let bz = cell.find_param("bz").expect("declared");
    assert!(short.set(bz, vec![1.0]).is_err());
    let other = ParamValues::zeros(cell, &cell.bind_dims(|_| Some(5)).expect("binds"));
    assert!(Interpreter::new(cell, &derived.ir, &sizes, &other).is_err());
    // The step itself: h' = z * hc + (1 - z) * h at zero parameters is 0.5 * tanh(0) + 0.5 * h.
    let evaluation = interp.evaluate(&[&[1.0, -1.0]], &[&[0.2, -0.4, 1.0]]).expect("evaluates");
    assert_eq!(interp.updates(&evaluation), vec![vec![0.1, -0.2, 0.5]]);
}

#[test]
fn the_ir_text_reads_like_a_listing() {
    let source = rnnc_stdlib::get("indrnn").expect("shipped").source;
    let derived = derive_cell(&check_source(source).expect("checks")[0]).expect("derives");
    let expected = "\
step indrnn {
    ; dims: H, D
    ; inputs: x: [D]
    ; states: h: [H]
    ; params: W: [H, D], u: [H], b: [H]
    v0 = input x                         ; [D]
    v1 = matvec W, v0                    ; [H]
    v2 = param u                         ; [H]
    v3 = state h                         ; [H]
    v4 = mul v2, v3                      ; [H]
    v5 = param b                         ; [H]
    v6 = add v1, v5                      ; [H]
    v7 = add v6, v4                      ; [H]
    v8 = relu v7                         ; [H]
    h' = v8
    output h = v8
}
";
    assert_eq!(derived.ir_text(), expected);
    let jacobian = derived.jacobian_text();
    assert!(jacobian.contains("; structure: diagonal"), "{jacobian}");
    assert!(jacobian.contains("v9 = step v7"), "{jacobian}");
    assert!(jacobian.contains("v11 = mul v9, v2"), "{jacobian}");
    assert!(jacobian.contains("d h'/d h = diag v11"), "{jacobian}");
    assert!(jacobian.contains("lambda^T d h'/d W = outer(m"), "{jacobian}");
}

/// Products emitted as IR (`W^T @ v` and all) agree with the dense maps, for
/// every result and every state, input and vector parameter of every cell.
#[test]
fn emitted_products_agree_with_the_dense_maps() {
    use rnnc_compiler::check::{ParamShape, Size};
    use rnnc_compiler::derive::products::{apply, seed, transpose_apply};
    for cell in all_cells() {
        let derived = derive_cell(&cell).expect("derives");
        let sizes = common::small_sizes(&cell);
        let mut rng = common::Rng::new(21);
        let params = common::random_params(&cell, &sizes, &mut rng);
        let results: Vec<(Size, &rnnc_compiler::derive::ResultDerivatives)> = cell
            .states
            .values()
            .map(|s| s.size)
            .zip(&derived.derivatives.updates)
            .chain(cell.outputs.values().map(|o| o.size).zip(&derived.derivatives.outputs))
            .collect();
        for (result_size, result) in results {
            let mut wrt: Vec<(Size, Option<rnnc_compiler::arena::Handle<rnnc_compiler::derive::Linear>>)> = Vec::new();
            wrt.extend(cell.states.values().map(|s| s.size).zip(result.states.iter().copied()));
            wrt.extend(cell.inputs.values().map(|i| i.size).zip(result.inputs.iter().copied()));
            for (param, derivative) in cell.params.values().zip(&result.params) {
                if let (ParamShape::Vector(size), rnnc_compiler::derive::ParamDerivative::Vector(map)) =
                    (param.shape, derivative)
                {
                    wrt.push((size, *map));
                }
            }
            for (size, map) in wrt {
                let mut ir = derived.ir.clone();
                let maps = &derived.derivatives.maps;
                // Seeds after the adjoint's own (one per state and output).
                let first = (cell.states.len() + cell.outputs.len()) as u32;
                let lambda = seed(&mut ir.graph, first, result_size);
                let tangent = seed(&mut ir.graph, first + 1, size);
                let vjp = transpose_apply(&mut ir.graph, &cell, maps, map, lambda, size);
                let jvp = apply(&mut ir.graph, &cell, maps, map, tangent, result_size);
                let interp = Interpreter::new(&cell, &ir, &sizes, &params).expect("fits");
                let (inputs, states) = common::random_point(&interp, &mut rng);
                let (rows, cols) = (sizes.of(result_size) as usize, sizes.of(size) as usize);
                let (l, t) = (rng.vector(rows, 1.0), rng.vector(cols, 1.0));
                let unused: Vec<Vec<f64>> =
                    interp.state_lens().into_iter().chain(interp.output_lens()).map(|n| vec![0.0; n]).collect();
                let mut seeds = common::slices(&unused);
                seeds.extend([l.as_slice(), t.as_slice()]);
                let evaluation = interp
                    .evaluate_with_seeds(&common::slices(&inputs), &common::slices(&states), &seeds)
                    .expect("evaluates");
                let dense = interp.map_matrix(&evaluation, maps, map, rows, cols);
                let expected = [(vjp, dense.transpose_times(&l), cols), (jvp, dense.times(&t), rows)];
                for (node, expected, len) in expected {
                    let got = evaluation.value(node).to_vector(len);
                    for (a, b) in got.iter().zip(&expected) {
                        assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{}: {a} vs {b}", cell.name);
                    }
                }
            }
        }
    }
}
