//! Every shipped cell's kernels generate and pass naga's validator.

use super::*;
use crate::derive_cell;

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

/// A hoisted product of a computed vector (an MLP on the input) reads every
/// channel: one whole lane, Newton's while it is small enough, and a reason
/// naming the product beyond that.
#[test]
fn a_product_of_a_computed_vector_makes_one_whole_lane_and_says_so() {
    let source = "cell mlp { dim H; dim D; input x: [D]; state h: [H];
        param W1: [H, D]; param W2: [H, H]; param a: [H];
        h' = tanh(a * h + W2 @ tanh(W1 @ x)); output h; }";
    let small = kernels(source, &[("H", 8), ("D", 3)]).expect("generates");
    assert_eq!((small.plan.mode, small.plan.lanes, small.plan.unknowns), (LaneMode::Whole, 1, 8));
    assert!(small.newton.is_some() && small.no_newton.is_none());
    let large = kernels(source, &[("H", 32), ("D", 3)]).expect("generates");
    let why = large.no_newton.expect("no Newton kernel for 32 unknowns");
    assert!(why.contains("`W2` multiplies a computed vector that does not depend on the state"), "{why}");
    assert!(why.contains("32 unknowns"), "{why}");
    // The same product of an input stays lane by lane.
    let projected = kernels(
        "cell p { dim H; input x: [H]; state h: [H]; param W2: [H, H]; param a: [H];
            h' = tanh(a * h + W2 @ x); output h; }",
        &[("H", 8)],
    )
    .expect("generates");
    assert_eq!((projected.plan.mode, projected.plan.whole), (LaneMode::Blocks { width: 1 }, None));
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
