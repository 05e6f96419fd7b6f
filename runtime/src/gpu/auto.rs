//! `auto`'s cost model: estimates of the sequential method and of Newton for
//! a cell's GPU kernels at a batch and length, from which
//! [`GpuCell::choose_method`](super::cell::GpuCell::choose_method) picks.

use rnnc_compiler::backend::wgsl::{GpuKernels, NewtonShape};

/// `auto`'s estimates (seconds, or unit costs on a CPU device) of the sequential
/// method and of Newton for `batch` sequences of `steps`, forward only or with
/// the backward pass (`backward`).
///
/// Both kernels are modelled as the longer of a chain of dependent steps and
/// their work spread over the device. On a discrete GPU the constants come from
/// an H200 (docs/PERFORMANCE.md): the sequential kernel takes about 30 us plus,
/// a step, 0.17 us for a lane of one unknown, 0.21 for two and 0.04 K^2 us
/// beyond (run 104, N = 1024, B = 8, T = 8192: ParaGRU 1.39 ms, ParaLSTM 1.70,
/// block_elman (K = 4) 5.26) when software-pipelined (0.5 us a step when not),
/// whatever the batch, while it has fewer threads than the device holds; a
/// Newton iteration over one segment about 6 us, and its work per lane and
/// step (all iterations and the guess's two sweeps; run 107, the same sizes)
/// 15.5 ps for one unknown (ParaGRU 1.03 ms), 23 ps for two (ParaLSTM 1.55),
/// 3.35 ps K^3 beyond (block_elman, 6 iterations: 3.60 ms). Backward: the
/// reverse scan costs about a Newton forward (run 26: ParaGRU 1.49 against
/// 1.47 ms, ParaLSTM 2.68 against 2.38), the sequential backward about 0.6 us
/// per step and unknown (ParaGRU 5.04 ms, ParaLSTM 11.19 ms at T = 8192). On a
/// CPU device (lavapipe) the earlier unit-cost model stays, and the backward
/// doubles both.
pub(super) fn auto_costs(
    kernels: &GpuKernels,
    shape: NewtonShape,
    cpu_device: bool,
    batch: usize,
    steps: usize,
    backward: bool,
) -> (f64, f64) {
    let threads = (batch as u64 * kernels.plan.lanes) as f64;
    let segments = (steps as f64 / shape.segment() as f64).ceil();
    // Newton's typical iterations; a linear cell's scan is one.
    let iterations = if kernels.plan.cell.linear { 1.0 } else { 4.0 };
    if cpu_device {
        // Unit costs: the sequential kernel has B x lanes threads, each walking
        // T steps; Newton walks ~4 iterations (a scan: 1) x (2 N + log2 S)
        // dependent steps per segment of S N.
        let parallel = 8.0;
        let newton_depth = segments * iterations * (2.0 * shape.chunk_len as f64 + (shape.chunks as f64).log2() * 2.0);
        let sequential = steps as f64 * (threads / parallel).max(1.0);
        let newton = newton_depth.max(2.0 * iterations * threads * steps as f64 / parallel);
        let passes = if backward { 2.0 } else { 1.0 };
        return (passes * sequential, passes * newton);
    }
    const NEWTON_ITERATION_S: f64 = 6e-6;
    const DEVICE_THREADS: f64 = 262_144.0;
    const SEQUENTIAL_BACKWARD_STEP_S: f64 = 0.6e-6;
    const SEQUENTIAL_START_S: f64 = 30e-6;
    let k = kernels.plan.unknowns as f64;
    let sequential_step_s = match kernels.plan.unknowns {
        _ if kernels.pipeline_group <= 1 => 0.5e-6,
        0..=1 => 0.17e-6,
        2 => 0.21e-6,
        _ => 0.04e-6 * k * k,
    };
    let spread = (threads / DEVICE_THREADS).max(1.0);
    let sequential = SEQUENTIAL_START_S + steps as f64 * sequential_step_s * spread;
    // A lane's step composes its K rows of JB x JB blocks: K^3 dense, K for
    // a diagonal lane of whole rows.
    let jb = kernels.plan.jacobian_block as f64;
    let lane_step_s = match kernels.plan.unknowns {
        0..=1 => 15.5e-12,
        2 => 23e-12,
        _ => 3.35e-12 * k * jb * jb,
    };
    let newton =
        (segments * iterations * NEWTON_ITERATION_S).max(iterations / 4.0 * threads * steps as f64 * lane_step_s);
    if backward {
        (sequential + steps as f64 * SEQUENTIAL_BACKWARD_STEP_S * k * spread, 2.0 * newton)
    } else {
        (sequential, newton)
    }
}

#[cfg(test)]
mod tests {
    use rnnc_compiler::backend::wgsl::{self, Target};

    use super::*;

    fn kernels(name: &str, size: u64) -> GpuKernels {
        let cell =
            rnnc_compiler::check_source(rnnc_stdlib::get(name).expect("shipped").source).expect("checks").remove(0);
        // Every dim `size`, but a matrix state's columns 16 (`mamba_ssm`'s N).
        let dims = cell.bind_dims(|dim| Some(if dim == "N" { 16 } else { size })).expect("binds");
        let derived = rnnc_compiler::derive_cell(&cell).expect("derives");
        wgsl::generate(&derived, &dims, &Target { workgroup_bytes: 48 * 1024, max_threads: 1024, ..Target::default() })
            .expect("generates")
    }

    /// A linear cell's scan is one iteration: `auto` estimates it at a quarter
    /// of Newton's typical four, on GPUs and CPU devices alike.
    #[test]
    fn auto_costs_a_scan_as_one_iteration() {
        let scan = kernels("minlstm", 1024);
        assert!(scan.plan.cell.linear);
        let shape = scan.newton.expect("a Newton kernel");
        let mut newton = scan.clone();
        newton.plan.cell.linear = false;
        for cpu_device in [false, true] {
            for (batch, steps) in [(1, 65536), (8, 8192)] {
                let (_, one) = auto_costs(&scan, shape, cpu_device, batch, steps, false);
                let (_, four) = auto_costs(&newton, shape, cpu_device, batch, steps, false);
                assert!((four / one - 4.0).abs() < 1e-9, "{cpu_device} {batch} {steps}: {one} vs {four}");
            }
        }
    }

    /// `auto`'s choice lands within 10% of the faster method on every row
    /// measured on an H200 (docs/measurements/h200-run33.jsonl, the rows
    /// after the Newton workgroups were chosen by lanes, h200-run55.jsonl, and
    /// after the faster products, h200-run63.jsonl, and with the guess's two
    /// sweeps, h200-run107.jsonl with run 104's sequential figures, and
    /// `mamba_ssm` in lanes of whole rows, h200-run118.jsonl; medians
    /// of 5 to 7, resident): the recurrence alone for a forward, the whole
    /// forward and backward otherwise. The earlier runs' rows where the
    /// sequential method was the faster are gone: the sweeps made Newton the
    /// faster there. Rows: (cell, size, batch, steps, backward, sequential
    /// ms, Newton ms).
    #[test]
    fn auto_follows_the_measured_rows() {
        let rows = [
            ("para_gru_mh", 1024, 8, 512, false, 0.1197, 0.0727),
            ("para_gru_mh", 1024, 8, 2048, false, 0.3724, 0.2686),
            ("para_gru_mh", 1024, 8, 8192, false, 1.3844, 1.0611),
            ("para_gru_mh", 1024, 8, 512, true, 1.982, 1.707),
            ("para_gru_mh", 1024, 8, 2048, true, 7.384, 6.302),
            ("para_gru_mh", 1024, 8, 8192, true, 28.70, 24.39),
            ("para_lstm_cifg_mh", 1024, 8, 512, false, 0.1276, 0.1152),
            ("para_lstm_cifg_mh", 1024, 8, 2048, false, 0.4404, 0.4182),
            ("para_lstm_cifg_mh", 1024, 8, 8192, false, 1.6933, 1.6450),
            ("para_lstm_cifg_mh", 1024, 8, 512, true, 2.361, 1.784),
            ("para_lstm_cifg_mh", 1024, 8, 2048, true, 8.996, 6.598),
            ("para_lstm_cifg_mh", 1024, 8, 8192, true, 35.23, 25.71),
            ("para_gru", 256, 1, 65536, false, 10.798, 0.7151),
            ("para_lstm", 256, 1, 65536, false, 13.22, 0.980),
            ("block_elman", 256, 1, 65536, false, 39.65, 3.00),
            ("para_lstm_cifg_mh", 512, 1, 65536, false, 13.23, 1.557),
            // Run 63.
            ("para_gru_mh", 1024, 8, 8192, false, 1.391, 1.134),
            ("para_gru_mh", 1024, 8, 512, true, 1.610, 1.330),
            ("para_gru_mh", 1024, 8, 8192, true, 22.735, 18.388),
            ("para_lstm_cifg_mh", 1024, 8, 512, false, 0.130, 0.125),
            ("para_lstm_cifg_mh", 1024, 8, 2048, true, 7.624, 5.187),
            ("para_lstm_cifg_mh", 1024, 8, 8192, true, 29.478, 19.760),
            ("para_gru", 256, 1, 65536, false, 10.770, 0.637),
            ("block_elman", 256, 1, 65536, false, 40.647, 3.012),
            // Runs 104 (sequential) and 107 (Newton with the guess's two sweeps).
            ("para_gru", 1024, 8, 2048, false, 0.376, 0.263),
            ("para_gru", 1024, 8, 8192, false, 1.390, 1.029),
            ("para_lstm", 1024, 8, 8192, false, 1.700, 1.547),
            ("block_elman", 1024, 8, 8192, false, 5.257, 3.599),
            ("para_gru", 256, 1, 65536, false, 10.791, 0.593),
            ("para_lstm", 256, 1, 65536, false, 13.286, 0.795),
            ("block_elman", 256, 1, 65536, false, 40.612, 2.233),
            // Run 118: a matrix state in lanes of whole rows (D = 1024, N = 16).
            ("mamba_ssm", 1024, 8, 512, false, 0.848, 0.557),
            ("mamba_ssm", 1024, 8, 2048, false, 3.438, 2.149),
            ("mamba_ssm", 1024, 8, 512, true, 3.490, 3.113),
            ("mamba_ssm", 1024, 8, 2048, true, 12.400, 11.127),
        ];
        for (name, size, batch, steps, backward, sequential_ms, newton_ms) in rows {
            let kernels = kernels(name, size);
            let shape = kernels.newton.expect("a Newton kernel");
            let (sequential, newton) = auto_costs(&kernels, shape, false, batch, steps, backward);
            let picked_ms = if newton < sequential { newton_ms } else { sequential_ms };
            let fastest_ms = f64::min(sequential_ms, newton_ms);
            assert!(
                picked_ms <= 1.1 * fastest_ms,
                "{name} N={size} B={batch} T={steps} backward={backward}: modelled {sequential:.2e} s sequential, \
                 {newton:.2e} s Newton; measured {sequential_ms} and {newton_ms} ms"
            );
        }
    }
}
