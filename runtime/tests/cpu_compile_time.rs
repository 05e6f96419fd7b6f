//! Compiling any stdlib cell for the CPU (CLIF generation of every kernel, step
//! and Jacobian included, and cranelift's machine code) is fast: the budget is
//! 50 ms in a release build, the compile-time goal for every stdlib cell
//! (sLSTM, the slowest, took 15-18 ms on a 2-core CI-like machine and once 23
//! ms with the machine busy; para_gru 3-8 ms: machines differ by 2x); a debug
//! build (cranelift itself unoptimised) gets 400 ms. Each figure is the best of
//! three compiles.

mod cpu_support;

use std::time::Duration;

use cpu_support::*;
use rnnc_runtime::cpu::CpuCell;

#[test]
fn every_stdlib_cell_compiles_within_budget() {
    let budget = if cfg!(debug_assertions) { Duration::from_millis(400) } else { Duration::from_millis(50) };
    let mut lines = Vec::new();
    for stdlib_cell in rnnc_stdlib::CELLS {
        let derived = stdlib(stdlib_cell.name);
        // 64 and 1024, or the least multiple of the cell's blocks (512 for the multi-head models).
        for size in [64, 1024].map(|size: u64| size.next_multiple_of(derived.cell.largest_block())) {
            let dims = derived.cell.bind_dims(|_| Some(size)).expect("binds");
            let best = (0..3)
                .map(|_| CpuCell::compile(&derived, &dims).expect("compiles").compile_time())
                .min()
                .unwrap_or_default();
            lines.push(format!("{:<12} H=D={size:<5} {:>8.2} ms", stdlib_cell.name, best.as_secs_f64() * 1e3));
            assert!(best < budget, "{} at {size}: {best:?} (budget {budget:?})", stdlib_cell.name);
        }
    }
    println!("{}", lines.join("\n"));
}
