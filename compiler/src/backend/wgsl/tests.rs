//! Every shipped cell's kernels generate and pass naga's validator.

use super::*;
use crate::analyse::ProjectionKind;
use crate::derive_cell;
use plan::PROJECTIONS_BY_COLUMN;

fn kernels(source: &str, dims: &[(&str, u64)]) -> Result<GpuKernels, Error> {
    let cell = crate::check_source(source).expect("checks").remove(0);
    let sizes = cell.bind_dims(|name| dims.iter().find(|(n, _)| *n == name).map(|&(_, s)| s)).expect("binds");
    generate(&derive_cell(&cell).expect("derives"), &sizes, &Target::default())
}

#[test]
fn every_stdlib_cell_generates_valid_wgsl() {
    for cell in rnnc_stdlib::CELLS {
        // H = 8, or the least multiple of the cell's blocks (512 for the multi-head models).
        let checked = crate::check_source(cell.source).expect("checks").remove(0);
        let h = (1..).map(|k| 8 * k).find(|h| h % checked.largest_block() == 0).expect("a multiple");
        let generated =
            kernels(cell.source, &[("H", h), ("D", 3), ("N", 4)]).unwrap_or_else(|e| panic!("{}: {e}", cell.name));
        assert!(generated.recurrence.contains("fn sequential("), "{}", cell.name);
        let expect_newton = cell.name != "lstm";
        assert_eq!(
            generated.newton.is_some(),
            expect_newton || crate::plan::Device::Gpu.dense_newton(generated.plan.unknowns)
        );
        spirv(cell.name, &generated.recurrence).unwrap_or_else(|e| panic!("{}: {e}", cell.name));
    }
}

#[test]
fn lanes_follow_the_jacobian_structure() {
    let plan = |name: &str| kernels(rnnc_stdlib::get(name).unwrap().source, &[("H", 8), ("D", 3)]).unwrap().plan;
    assert_eq!(
        (plan("para_gru").mode, plan("para_gru").lanes, plan("para_gru").unknowns),
        (LaneMode::Blocks { width: 1 }, 8, 1)
    );
    assert_eq!((plan("para_lstm").lanes, plan("para_lstm").unknowns), (8, 2));
    assert_eq!(
        (plan("block_elman").mode, plan("block_elman").lanes, plan("block_elman").unknowns),
        (LaneMode::Blocks { width: 4 }, 2, 4)
    );
    assert_eq!((plan("elman").mode, plan("elman").lanes, plan("elman").unknowns), (LaneMode::Whole, 1, 8));
    assert_eq!(plan("lstm").unknowns, 16);
    let gru = plan("para_gru");
    assert_eq!(gru.cell.projections.len(), 1);
    assert_eq!(gru.cell.projection_columns, 24);
}

#[test]
fn the_block_projections_of_one_input_are_one_grouped_launch() {
    let source = rnnc_stdlib::get("para_gru_mh").unwrap().source;
    let plan = kernels(source, &[("H", 1024)]).expect("generates").plan.cell;
    let [launch] = plan.projections.as_slice() else { panic!("{:?}", plan.projections) };
    assert_eq!(launch.kind, ProjectionKind::Block { block: 512 });
    assert_eq!((launch.products.len(), launch.columns(), launch.depth), (3, 3 * 1024, 512));
    let columns: Vec<u64> = launch.placed().map(|(_, column)| column).collect();
    assert_eq!(columns, [0, 1024, 2048]);
    // Bz, Br, Bh each followed by two vectors: evenly spaced, so the input's
    // gradient is one product through the three.
    assert_eq!(plan.block_strides(launch), Some((2 * 512 * 512 + 2 * 1024, 1024)));
    // The CIFG LSTM uses Bf, Bc, Bo in that order; the launch holds them in
    // declaration order (Bf, Bo, Bc), each followed by three vectors but Bc.
    let source = rnnc_stdlib::get("para_lstm_cifg_mh").unwrap().source;
    let plan = kernels(source, &[("H", 1024)]).expect("generates").plan.cell;
    let [launch] = plan.projections.as_slice() else { panic!("{:?}", plan.projections) };
    let params: Vec<usize> = launch.products.iter().map(|p| p.param.index()).collect();
    assert!(params.is_sorted(), "{params:?}");
    assert_eq!(plan.block_strides(launch), Some((2 * 512 * 512 + 3 * 1024, 1024)));
    // Unevenly spaced matrices: none.
    let uneven = "cell u { dim H; input x: [H]; state h: [H]; param A: block[H, 4]; param v: [H]; \
                  param B: block[H, 4]; param C: block[H, 4]; h' = tanh(A @ x + B @ x + C @ x + v * h); output h; }";
    let plan = kernels(uneven, &[("H", 8)]).expect("generates").plan.cell;
    let [launch] = plan.projections.as_slice() else { panic!("{:?}", plan.projections) };
    assert_eq!(plan.block_strides(launch), None);
}

#[test]
fn every_stdlib_and_test_cell_has_valid_backward_kernels() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/filetests");
    let mut sources: Vec<String> = rnnc_stdlib::CELLS.iter().map(|c| c.source.to_owned()).collect();
    for entry in std::fs::read_dir(dir).expect("filetests") {
        sources.push(std::fs::read_to_string(entry.expect("entry").path()).expect("readable"));
    }
    for source in &sources {
        for cell in crate::check_source(source).expect("checks") {
            let sizes = cell
                .bind_dims(|name| {
                    cell.find_dim(name).map(|d| crate::check::lcm(4, cell.block_multiple(d)).unwrap_or(4))
                })
                .expect("binds");
            let derived = derive_cell(&cell).expect("derives");
            let forward = generate(&derived, &sizes, &Target::default()).expect("forward kernels");
            let backward = generate_adjoint(&derived, &sizes, &forward.plan, forward.newton)
                .unwrap_or_else(|e| panic!("{}: {e}", cell.name));
            assert_eq!(backward.scan.is_some(), forward.newton.is_some(), "{}", cell.name);
            assert!(backward.text.contains("fn adjoint_sequential("), "{}", cell.name);
            spirv(&cell.name, &backward.text).unwrap_or_else(|e| panic!("{}: {e}", cell.name));
        }
    }
}

#[test]
fn an_output_that_mixes_channels_makes_the_state_one_whole_lane() {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/filetests/output_expr.rnn"))
        .expect("the derivation test cell");
    let generated = kernels(&source, &[("H", 4), ("D", 3), ("O", 2)]).expect("generates");
    assert_eq!((generated.plan.mode, generated.plan.lanes, generated.plan.unknowns), (LaneMode::Whole, 1, 4));
    assert_eq!(generated.plan.whole.as_deref(), Some("an output reads across channels"));
}

/// A hoisted product of a computed vector (an MLP on the input) is staged: the
/// plan computes the vector for every step before the recurrence (one stage
/// per layer, in order) and launches its product, so the cell keeps its lanes
/// and its Newton kernel at any width; the stage kernels validate.
#[test]
fn a_product_of_a_computed_vector_is_staged_and_keeps_the_lanes() {
    let source = "cell mlp { dim H; dim D; dim U; input x: [D]; state h: [H];
        param W1: [U, D]; param b1: [U]; param W2: [U, U]; param W3: [H, U]; param a: [H];
        h' = tanh(a * h + W3 @ tanh(W2 @ tanh(W1 @ x + b1))); output h; }";
    for h in [8, 32] {
        let generated = kernels(source, &[("H", h), ("D", 3), ("U", 5)]).expect("generates");
        let plan = &generated.plan;
        assert_eq!(
            (plan.mode, plan.lanes, plan.unknowns, plan.whole.as_deref()),
            (LaneMode::Blocks { width: 1 }, h, 1, None)
        );
        assert!(generated.newton.is_some() && generated.no_newton.is_none(), "H = {h}");
        let stages = &plan.cell.stages;
        let levels: Vec<(u32, u64)> = stages.stages.iter().map(|s| (s.level, s.len)).collect();
        assert_eq!(levels, [(1, 5), (2, 5)], "two layers, two stages in order");
        assert_eq!(stages.columns, 10);
        let launches: Vec<(usize, u64)> = stages.launches.iter().map(|l| (l.stage, l.product.rows)).collect();
        assert_eq!(launches, [(0, 5), (1, h)]);
        // The input projection (5 columns), then the staged products'.
        assert_eq!(plan.cell.projection_columns, 5 + 5 + h);
        // The recurrence reads only the top product.
        assert_eq!(plan.raw.len(), 1, "{:?}", plan.raw);
        assert_eq!(plan.raw[0].0, RawValue::Projection { node: stages.launches[1].product.node, column: 10 });
        let stage_kernels = generated.stages.as_ref().expect("stage kernels");
        assert_eq!((stage_kernels.forward.len(), stage_kernels.backward.len()), (2, 2));
        // `b1`'s gradient is a share of the first stage.
        assert_eq!(stage_kernels.partials.len(), 1);
        assert_eq!((stage_kernels.partials[0].stage, stage_kernels.partial_columns), (0, 6), "and the ones");
        for text in stage_kernels.forward.iter().chain(&stage_kernels.backward) {
            spirv("mlp", text).expect("valid");
        }
        let cell = crate::check_source(source).expect("checks").remove(0);
        let sizes = cell
            .bind_dims(|n| {
                Some(match n {
                    "H" => h,
                    "D" => 3,
                    _ => 5,
                })
            })
            .expect("binds");
        let derived = derive_cell(&cell).expect("derives");
        let backward = generate_adjoint(&derived, &sizes, plan, generated.newton).expect("backward kernels");
        assert!(backward.accumulators.iter().all(|a| a.kind == AccumulatorKind::Vector), "no matrix in the lanes");
    }
    // A block matrix times a computed vector of an input: staged too.
    let block = kernels(
        "cell b { dim H; input x: [H]; state h: [H]; param U: block[H, 4]; param V: block[H, 4]; param a: [H];
            h' = tanh(a * h + U @ x + V @ sigmoid(U @ x)); output h; }",
        &[("H", 8)],
    )
    .expect("generates");
    assert_eq!((block.plan.mode, block.plan.whole), (LaneMode::Blocks { width: 4 }, None));
    assert_eq!(block.plan.cell.stages.launches.len(), 1);
    // The same product of an input stays lane by lane, with no stage.
    let projected = kernels(
        "cell p { dim H; input x: [H]; state h: [H]; param W2: [H, H]; param a: [H];
            h' = tanh(a * h + W2 @ x); output h; }",
        &[("H", 8)],
    )
    .expect("generates");
    assert_eq!((projected.plan.mode, projected.plan.whole), (LaneMode::Blocks { width: 1 }, None));
    assert!(projected.stages.is_none() && projected.plan.cell.stages.stages.is_empty());
}

#[test]
fn newton_workgroups_follow_the_measured_shapes() {
    let h200 = Target { max_threads: 1024, workgroup_bytes: 48 * 1024, ..Target::default() };
    let shape = |name: &str, h: u64, target: &Target| {
        let cell = crate::check_source(rnnc_stdlib::get(name).unwrap().source).expect("checks").remove(0);
        let sizes = cell.bind_dims(|_| Some(h)).expect("binds");
        generate(&derive_cell(&cell).expect("derives"), &sizes, target).expect("generates").newton.expect("Newton")
    };
    // One unknown a lane, many lanes: 8 lanes x 32 chunks; two unknowns: 8 x 16.
    assert_eq!(shape("para_gru", 1024, &h200), NewtonShape { lanes: 8, chunks: 32, chunk_len: 8 });
    assert_eq!(shape("para_lstm", 1024, &h200), NewtonShape { lanes: 8, chunks: 16, chunk_len: 8 });
    // Few unknowns a sequence: narrow workgroups of long segments.
    assert_eq!(shape("para_gru", 256, &h200), NewtonShape { lanes: 2, chunks: 512, chunk_len: 8 });
    // Lanes, not unknowns, set the lanes a workgroup: ParaLSTM's 256 lanes of
    // two unknowns take 2, as ParaGRU's 256 of one.
    assert_eq!(shape("para_lstm", 256, &h200), NewtonShape { lanes: 2, chunks: 512, chunk_len: 8 });
    // Four unknowns: the most threads whose chunk maps fit workgroup memory
    // (256); block_elman's 256 lanes (of 1024 channels) take 2 a workgroup.
    assert_eq!(shape("block_elman", 1024, &h200), NewtonShape { lanes: 2, chunks: 128, chunk_len: 16 });
    assert_eq!(shape("block_elman", 256, &h200), NewtonShape { lanes: 1, chunks: 256, chunk_len: 16 });
    // The knobs override the rule, within the device's limits.
    let knobs: NewtonKnobs = "threads=2048,lanes=1".parse().expect("parses");
    let chosen = Target { newton_knobs: knobs, ..h200 };
    assert_eq!(shape("para_gru", 1024, &chosen), NewtonShape { lanes: 1, chunks: 1024, chunk_len: 8 });
    assert!("threads=300".parse::<NewtonKnobs>().is_err());
    assert!("depth=4".parse::<NewtonKnobs>().is_err());
}

/// Newton's initial guess chains each chunk's steps by default, in two sweeps;
/// `chained=0` takes every step from the segment's start state, `sweeps=N`
/// sweeps N times (the kernel's constants say which ran).
#[test]
fn the_initial_guess_is_chained_unless_asked_otherwise() {
    let source = rnnc_stdlib::get("para_gru").unwrap().source;
    let generate_with = |knobs: NewtonKnobs| {
        let cell = crate::check_source(source).expect("checks").remove(0);
        let sizes = cell.bind_dims(|_| Some(64)).expect("binds");
        let target = Target { newton_knobs: knobs, ..Target::default() };
        generate(&derive_cell(&cell).expect("derives"), &sizes, &target).expect("generates").recurrence
    };
    assert!(generate_with(NewtonKnobs::default()).contains("const CHAINED_GUESS: u32 = 1u;"));
    let from_start: NewtonKnobs = "chained=0".parse().expect("parses");
    assert!(!from_start.chained);
    assert!(generate_with(from_start).contains("const CHAINED_GUESS: u32 = 0u;"));
    assert!("chained=2".parse::<NewtonKnobs>().is_err());
    assert!(generate_with(NewtonKnobs::default()).contains("const GUESS_SWEEPS: u32 = 2u;"));
    let once: NewtonKnobs = "sweeps=1".parse().expect("parses");
    assert!(generate_with(once).contains("const GUESS_SWEEPS: u32 = 1u;"));
    assert_eq!("sweeps=4".parse::<NewtonKnobs>().map(|k| k.sweeps), Ok(MAX_GUESS_SWEEPS));
    for bad in ["sweeps=0", "sweeps=5", "sweeps=x"] {
        assert!(bad.parse::<NewtonKnobs>().is_err(), "{bad}");
    }
}

/// A whole lane holds every value of the step in one thread: beyond
/// `WHOLE_LANE_VALUES` elements the GPU back end refuses the cell, saying why
/// its state is one lane and to run it on the CPU, instead of emitting a kernel
/// drivers take minutes to compile (or fail on).
#[test]
fn whole_lanes_wider_than_a_thread_holds_are_refused() {
    let generate_at = |name: &str, h: u64| {
        let cell = crate::check_source(rnnc_stdlib::get(name).unwrap().source).expect("checks").remove(0);
        let sizes = cell.bind_dims(|dim| Some(if dim == "H" { h } else { 4 })).expect("binds");
        generate(&derive_cell(&cell).expect("derives"), &sizes, &Target::default())
    };
    assert!(generate_at("gru", super::WHOLE_LANE_VALUES).is_ok());
    let refused = generate_at("gru", super::WHOLE_LANE_VALUES + 1).expect_err("refused");
    let message = refused.to_string();
    assert!(message.contains("the Jacobian is dense"), "{message}");
    // At the product that couples the channels, the state as a related
    // place, and the way out as a hint.
    let source = rnnc_stdlib::get("gru").unwrap().source;
    let cell = crate::check_source(source).expect("checks").remove(0);
    assert_eq!(&source[refused.span.start as usize..refused.span.end as usize], "W_hr @ h");
    assert_eq!(refused.label, "this product couples every channel of the state");
    let state = cell.states.values().next().expect("a state").span;
    assert!(refused.notes.iter().any(|n| n.span == Some(state)), "{refused:?}");
    assert!(refused.notes.iter().any(|n| n.span.is_none() && n.message.contains("--backend cpu")), "{refused:?}");
    assert!(message.contains(&format!("values of {} elements", super::WHOLE_LANE_VALUES + 1)), "{message}");
    // Lanes of some channels are never limited.
    assert!(generate_at("para_gru", 4096).is_ok());
}

/// A refusal about a parameter points at its product where one is written,
/// else at its declaration.
#[test]
fn refusals_point_at_the_product_or_the_declaration() {
    let source = rnnc_stdlib::get("para_gru").unwrap().source;
    let cell = crate::check_source(source).expect("checks").remove(0);
    let derived = derive_cell(&cell).expect("derives");
    let (bz, _) = cell.params.iter().find(|(_, p)| p.name == "Bz").expect("declared");
    let graph = &derived.ir.graph;
    let products: Vec<_> =
        graph.iter().filter(|(_, n)| matches!(n.op, crate::ir::Op::MatVec(p, _) if p == bz)).map(|(h, _)| h).collect();
    let text = |span: crate::Span| &source[span.start as usize..span.end as usize];
    let at_product = super::refusal::of_param(&derived, bz, products, "why".into());
    assert_eq!(text(at_product.span), "Bz @ x");
    assert_eq!(at_product.notes[0].span, Some(cell.params[bz].span));
    let at_declaration = super::refusal::of_param(&derived, bz, [], "why".into());
    assert_eq!(at_declaration.span, cell.params[bz].span);
    assert!(at_declaration.to_string().contains("the wgsl back end cannot compile cell `para_gru`: why"));
}

/// The Newton kernel reads the projections column by column where a
/// workgroup's lanes read less than a sector of a column's step (run 110),
/// step by step elsewhere and for cells with staged products; the kernels
/// address them through `projection_index`, by their pipeline constant.
#[test]
fn the_newton_kernel_reads_projections_by_column_where_its_lanes_fill_no_sector() {
    let h200 = Target { max_threads: 1024, workgroup_bytes: 48 * 1024, ..Target::default() };
    let layout = |name: &str, h: u64| {
        let cell = crate::check_source(rnnc_stdlib::get(name).unwrap().source).expect("checks").remove(0);
        let sizes = cell.bind_dims(|_| Some(h)).expect("binds");
        let kernels = generate(&derive_cell(&cell).expect("derives"), &sizes, &h200).expect("generates");
        assert!(kernels.recurrence.contains("projections[projection_index(b, t, "), "{name}");
        assert!(kernels.recurrence.contains(&format!("override {PROJECTIONS_BY_COLUMN}: bool = false;")), "{name}");
        kernels.newton_projections
    };
    // 2 lanes a workgroup read 8 bytes of each 32-byte sector; 8 lanes, 32.
    assert_eq!(layout("para_gru", 256), ProjectionLayout::ByColumn);
    assert_eq!(layout("para_lstm", 256), ProjectionLayout::ByColumn);
    assert_eq!(layout("para_gru", 1024), ProjectionLayout::ByStep);
    assert_eq!(layout("para_lstm", 1024), ProjectionLayout::ByStep);
    // block_elman's lanes are 4 channels wide: 1 lane (H = 256) 16 bytes, 2 lanes (1024) 32.
    assert_eq!(layout("block_elman", 256), ProjectionLayout::ByColumn);
    assert_eq!(layout("block_elman", 1024), ProjectionLayout::ByStep);
    assert_eq!(layout("para_gru", 16), ProjectionLayout::ByColumn);
    // Staged products keep every kernel step by step.
    let staged = "cell mlp_gate {\n dim H;\n input x: [H];\n state h: [H];\n param W1: [H, H];\n param Wz: [H, H];\n \
                  param az: [H];\n let u = tanh(W1 @ x);\n h' = sigmoid(az * h + Wz @ u) * h;\n output h;\n}\n";
    let staged = kernels(staged, &[("H", 256)]).expect("generates");
    assert!(staged.plan.cell.stages.launches.len() == 1, "one staged product");
    assert_eq!(staged.newton_projections, ProjectionLayout::ByStep);
    // The measurement knob forces either, except beneath stages.
    let forced = |text: &str| {
        let target = Target { newton_knobs: text.parse().expect("parses"), ..h200 };
        let cell = crate::check_source(rnnc_stdlib::get("para_gru").unwrap().source).expect("checks").remove(0);
        let sizes = cell.bind_dims(|_| Some(256)).expect("binds");
        generate(&derive_cell(&cell).expect("derives"), &sizes, &target).expect("generates").newton_projections
    };
    assert_eq!(forced("projections=step"), ProjectionLayout::ByStep);
    assert_eq!(forced("projections=column"), ProjectionLayout::ByColumn);
    assert!("projections=rows".parse::<NewtonKnobs>().is_err());
}

/// A matrix state whose rows stay apart runs in lanes of whole rows: a lane a
/// row, its Jacobian kept as the diagonal, the `[N]` projections every lane
/// holds whole listed for the backward's sums; values wider than a thread
/// holds are refused there too, and an output across the rows keeps one whole
/// lane.
#[test]
fn a_matrix_state_whose_rows_stay_apart_runs_a_row_a_lane() {
    let source = rnnc_stdlib::get("mamba_ssm").unwrap().source;
    let at = |source: &str, d: u64, n: u64| kernels(source, &[("D", d), ("N", n)]);
    let mamba = at(source, 1024, 16).expect("generates");
    let plan = &mamba.plan;
    let side = match plan.mode {
        LaneMode::Rows { rows: 1, side } => side,
        other => panic!("{other:?}"),
    };
    assert_eq!(plan.dims.of(side.size()), 1024);
    assert_eq!((plan.lanes, plan.unknowns, plan.jacobian_block, plan.whole.as_deref()), (1024, 16, 1, None));
    // W_dt @ x ([D]) is windowed; W_B @ x and W_C @ x ([N]) are replicated.
    assert_eq!(plan.replicated, vec![(1024, 16), (1040, 16)]);
    assert!(mamba.recurrence.contains("const JB: u32 = 1u;"));
    assert!(mamba.newton.is_some());
    let refused = at(source, 4, WHOLE_LANE_VALUES + 1).expect_err("refused").to_string();
    assert!(refused.contains("one thread a row of the states would hold values of 65 elements"), "{refused}");
    let across = source.replace("output y =", "output b = W_B @ x;\n    output y =");
    let whole = at(&across, 4, 4).expect("generates").plan;
    assert_eq!((whole.mode, whole.whole.as_deref()), (LaneMode::Whole, Some("a value is read across channels")));
}
