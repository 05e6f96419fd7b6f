//! Unit tests: every stdlib cell and every filetest cell generates kernels that
//! cranelift's verifier accepts (the backward kernel included), with the
//! structure and layout expected.

use super::*;
use crate::{check_source, derive_cell};

fn cells_from(source: &str) -> Vec<Derived> {
    let cells = check_source(source).unwrap_or_else(|e| panic!("does not check: {e:?}"));
    cells.iter().map(|cell| derive_cell(cell).unwrap_or_else(|e| panic!("does not derive: {e}"))).collect()
}

fn dims_for(derived: &Derived, size: u64) -> DimSizes {
    derived.cell.bind_dims(|_| Some(size)).unwrap_or_else(|e| panic!("dims: {e:?}"))
}

fn filetest_sources() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/filetests");
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("filetests").flatten().map(|e| e.path()).collect();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rnn"))
        .map(|p| (p.display().to_string(), std::fs::read_to_string(&p).expect("readable")))
        .collect()
}

#[test]
fn every_stdlib_and_filetest_cell_verifies() {
    let mut sources: Vec<(String, String)> =
        rnnc_stdlib::CELLS.iter().map(|c| (c.name.to_owned(), c.source.to_owned())).collect();
    sources.extend(filetest_sources());
    for (name, source) in sources {
        for derived in cells_from(&source) {
            for size in [1, 2, 3, 12, 36, 72] {
                let Ok(dims) = derived.cell.bind_dims(|_| Some(size)) else { continue };
                let text = clif_text(&derived, &dims).unwrap_or_else(|e| panic!("{name} at {size}: {e}"));
                assert!(text.contains("; kernel states"), "{name}: {text}");
                assert!(text.contains("; kernel backward"), "{name} at {size}: no backward kernel");
                let width: u64 = derived.cell.states.values().map(|s| dims.of(s.size)).sum();
                // One lane with every state whole (a dense Jacobian, or a cell
                // with a reduction or a slice) has Newton within the CPU's limit.
                let whole = crate::plan::plan(&derived, &dims).granule.is_none();
                let newton = !whole || crate::plan::Device::Cpu.dense_newton(width);
                assert_eq!(text.contains("; kernel linearize"), newton, "{name} at {size}");
            }
        }
    }
}

#[test]
fn para_gru_is_one_vector_loop_split_by_channels() {
    let source = rnnc_stdlib::CELLS.iter().find(|c| c.name == "para_gru").expect("stdlib").source;
    let derived = &cells_from(source)[0];
    let dims = dims_for(derived, 64);
    let cell = generate(derived, &dims, &default_target()).expect("generates");
    let layout = &cell.layout;
    assert_eq!(layout.split, Some(ChannelSplit { channels: 64, granule: 1 }));
    assert_eq!(layout.pre_width, 3 * 64, "three hoisted projections with their biases");
    assert_eq!(layout.plan.projections.len(), 1, "the three projections of `x` stacked in one launch");
    assert_eq!(layout.projection_width, 3 * 64);
    assert_eq!(layout.jacobian.len(), 64);
    assert_eq!(layout.scratch_len, 0, "nothing leaves the registers");
    let kinds: Vec<KernelKind> = cell.kernels.iter().map(|k| k.kind).collect();
    assert_eq!(kinds, [KernelKind::Hoist, KernelKind::States, KernelKind::Linearize, KernelKind::Backward]);
    let backward = layout.backward.as_ref().expect("a backward kernel");
    assert_eq!(backward.split, Some(ChannelSplit { channels: 64, granule: 1 }), "the backward splits like the forward");
}

#[test]
fn block_and_dense_layouts() {
    let lstm = rnnc_stdlib::CELLS.iter().find(|c| c.name == "para_lstm").expect("stdlib").source;
    let derived = &cells_from(lstm)[0];
    let layout = generate(derived, &dims_for(derived, 8), &default_target()).expect("generates").layout;
    assert_eq!((layout.jacobian.block, layout.jacobian.groups, layout.jacobian.channel_block), (2, 8, 1));
    assert_eq!(layout.jacobian.unknown_offset(1, 3), 8 + 3, "h of channel 3");
    let elman = rnnc_stdlib::CELLS.iter().find(|c| c.name == "elman").expect("stdlib").source;
    let derived = &cells_from(elman)[0];
    let layout = generate(derived, &dims_for(derived, 8), &default_target()).expect("generates").layout;
    assert_eq!((layout.jacobian.block, layout.jacobian.groups), (8, 1));
    assert_eq!(layout.split, None);
    let wide = generate(derived, &dims_for(derived, 200), &default_target()).expect("generates");
    assert!(wide.kernel(KernelKind::Linearize).is_none(), "dense beyond the limit: no Newton");
}
