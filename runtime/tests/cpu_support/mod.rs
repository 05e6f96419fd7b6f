//! What the CPU tests share: cells by name, random data bound to them, the
//! float64 reference from the interpreter, and the comparison.

#![allow(dead_code)]

use std::path::PathBuf;

use rnnc_compiler::{Derived, check_source, derive_cell};
use rnnc_runtime::cpu::CpuCell;
use rnnc_runtime::data::random::{random_inputs, random_params, random_tensor};
use rnnc_runtime::data::{BoundData, Tensor};
use rnnc_runtime::{ForwardReport, Method, NewtonSettings};

/// Every cell of a source text, derived.
pub fn derive_all(source: &str) -> Vec<Derived> {
    let cells = check_source(source).unwrap_or_else(|e| panic!("does not check: {e:?}"));
    cells.iter().map(|c| derive_cell(c).unwrap_or_else(|e| panic!("{}: {e}", c.name))).collect()
}

/// The stdlib cells the every-cell tests run, derived, with their names.
pub fn stdlib_cells() -> Vec<(&'static str, Derived)> {
    rnnc_stdlib::CELLS
        .iter()
        .map(|c| (c.name, stdlib(c.name)))
        .filter(|(_, derived)| derived.cell.largest_block() <= rnnc_stdlib::LARGEST_SMALL_TEST_BLOCK)
        .collect()
}

/// The stdlib cell `name`, derived.
pub fn stdlib(name: &str) -> Derived {
    let cell = rnnc_stdlib::CELLS.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no stdlib cell {name}"));
    derive_all(cell.source).remove(0)
}

/// Every `.rnn` file under `dir` (relative to the runtime crate), sorted.
pub fn rnn_files(dir: &str) -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rnn"))
        .map(|p| (p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), read(&p)))
        .collect()
}

fn read(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Random data for `derived`: every dim `size` (dims named in `sizes` take that
/// size instead), `batch` sequences of `steps`, initial states in [-0.5, 0.5).
pub fn random_data(
    derived: &Derived,
    sizes: &[(&str, u64)],
    size: u64,
    batch: usize,
    steps: usize,
    seed: u64,
) -> BoundData {
    random_data_with_inits(derived, sizes, size, batch, steps, seed, (-0.5, 0.5))
}

/// [`random_data`] with initial states uniform in `inits`.
pub fn random_data_with_inits(
    derived: &Derived,
    sizes: &[(&str, u64)],
    size: u64,
    batch: usize,
    steps: usize,
    seed: u64,
    inits: (f32, f32),
) -> BoundData {
    let cell = &derived.cell;
    let dims = cell
        .bind_dims(|name| Some(sizes.iter().find(|(n, _)| *n == name).map_or(size, |&(_, s)| s)))
        .unwrap_or_else(|e| panic!("{}: {e:?}", cell.name));
    let params = random_params(cell, &dims, seed).expect("params");
    let inputs = random_inputs(cell, &dims, batch, steps, seed + 1).expect("inputs");
    let inits: Vec<(String, Tensor)> = cell
        .states
        .values()
        .enumerate()
        .map(|(i, s)| {
            let shape = support::init_shape(cell, &dims, s.size, batch);
            (s.name.clone(), random_tensor(shape, inits.0, inits.1, seed + 10 + i as u64).expect("init"))
        })
        .collect();
    BoundData::bind(cell, params, inputs, inits).unwrap_or_else(|e| panic!("{}: {e}", cell.name))
}

#[path = "../support/mod.rs"]
mod support;

#[allow(unused_imports)]
pub use support::{reference, relative_error};

/// Gradients against central differences of the float64 reference.
#[allow(unused_imports)]
pub use support::gradients;

/// Compiles `derived` for the sizes of `data` with `threads` threads.
pub fn compile(derived: &Derived, data: &BoundData, threads: usize) -> CpuCell {
    let mut cell = CpuCell::compile(derived, data.dims()).unwrap_or_else(|e| panic!("{}: {e}", derived.cell.name));
    cell.set_threads(threads);
    cell
}

/// Runs forward with `method` and the default settings.
pub fn forward(cell: &CpuCell, data: &BoundData, method: Method) -> (Vec<Vec<f32>>, ForwardReport) {
    cell.forward(data, method, &NewtonSettings::default()).unwrap_or_else(|e| panic!("forward: {e}"))
}
