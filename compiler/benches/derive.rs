//! Compile time of the derivation: for every stdlib cell, check + derive +
//! simplify + analyse, timed over many runs. Prints one line per cell and exits
//! with status 1 if any cell's median exceeds the budget of 50 ms.
//!
//! Run: `cargo bench -p rnnc-compiler --bench derive` (release profile).

use std::process::ExitCode;
use std::time::{Duration, Instant};

const BUDGET: Duration = Duration::from_millis(50);
const RUNS: usize = 30;

fn main() -> ExitCode {
    let mut over_budget = false;
    println!("{:<12} {:>10} {:>10} {:>10}  {:<16} simplify", "cell", "min", "median", "max", "structure");
    for cell in rnnc_stdlib::CELLS {
        let mut times = Vec::with_capacity(RUNS);
        let mut last = None;
        for _ in 0..RUNS {
            let start = Instant::now();
            let cells = match rnnc_compiler::check_source(cell.source) {
                Ok(cells) => cells,
                Err(errors) => {
                    eprintln!("{}: does not check: {errors:?}", cell.name);
                    return ExitCode::FAILURE;
                }
            };
            let derived = match rnnc_compiler::derive_cell(&cells[0]) {
                Ok(derived) => derived,
                Err(error) => {
                    eprintln!("{}: does not derive: {error}", cell.name);
                    return ExitCode::FAILURE;
                }
            };
            times.push(start.elapsed());
            last = Some(derived);
        }
        times.sort();
        let median = times[RUNS / 2];
        over_budget |= median > BUDGET;
        let Some(derived) = last else { continue };
        let report = &derived.simplify;
        println!(
            "{:<12} {:>10.3?} {:>10.3?} {:>10.3?}  {:<16} {:?}, {} iterations, {} e-nodes, cost {} -> {}",
            cell.name,
            times[0],
            median,
            times[RUNS - 1],
            derived.structure().to_string(),
            report.stop_reason,
            report.iterations,
            report.egraph_nodes,
            report.cost_before,
            report.cost_after,
        );
    }
    if over_budget {
        eprintln!("some cell's median is over the {BUDGET:?} budget");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
