//! Checking a shipped cell must take well under 10 ms. Prints the median of 51
//! runs per cell; `cargo test --release --test frontend_speed -- --nocapture`
//! gives the figures recorded in docs/PERFORMANCE.md.

use std::time::{Duration, Instant};

#[test]
fn checking_any_stdlib_cell_takes_well_under_10_ms() {
    for cell in rnnc_stdlib::CELLS {
        let mut times: Vec<Duration> = (0..51)
            .map(|_| {
                let start = Instant::now();
                let cells = rnnc::compiler::check_source(cell.source).expect("stdlib cells check clean");
                assert_eq!(cells.len(), 1);
                start.elapsed()
            })
            .collect();
        times.sort();
        let median = times[times.len() / 2];
        println!("check {:<12} median {:>8.1} us", cell.name, median.as_secs_f64() * 1e6);
        assert!(median < Duration::from_millis(10), "{}: {median:?}", cell.name);
    }
}
