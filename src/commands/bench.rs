//! `rnnc bench FILE --dims H=1024,D=1024 --batch 8 --seq 8192`: time each method on
//! random data and compare their outputs; with `--backward`, time forward and
//! backward passes (random output cotangents).

use std::time::{Duration, Instant};

use rnnc::compiler::check::Cell;
use rnnc::compiler::ir::Op;
use rnnc::runtime::data::random::{random_inputs, random_params, random_tensor};
use rnnc::{ForwardReport, Method, RunOptions};
use serde_json::json;

use super::compile::default_dims;
use super::run::{MethodArg, SolverArgs, note_backend, warn_about_fallbacks};
use super::stdio::{errln, outln};
use super::{DimList, Failure, bind_dims, load_and_check, parse_dims, select_cell};

/// The most timed runs per method (`--repeat`).
const MAX_REPEAT: usize = 100;

/// Untimed work before the timed rounds (after the first, reference round).
const WARM_UP: Duration = Duration::from_millis(1000);

/// Arguments of `rnnc bench`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  rnnc bench stdlib:para_gru\n  rnnc bench stdlib:para_lstm --dims H=1024,D=1024 --batch 8 --seq 8192 --json\n\nWithout --dims every dim is 128 (or the least multiple of 128 its block sizes divide)."
)]
pub struct Args {
    /// A source file, or `stdlib:NAME` for a shipped cell.
    #[arg(value_name = "FILE")]
    pub file: String,
    /// The cell, when the file defines several.
    #[arg(long)]
    pub cell: Option<String>,
    /// Sizes, e.g. `H=1024,D=1024`.
    #[arg(long, value_name = "NAME=SIZE,...", value_parser = parse_dims)]
    pub dims: Option<DimList>,
    /// Sequences per batch (B).
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// Steps per sequence (T).
    #[arg(long, default_value_t = 2048)]
    pub seq: usize,
    /// Timed rounds, at most 100, after one untimed reference round and untimed
    /// rounds for one second (so that a GPU's clocks are up); each round runs
    /// every method once, and min / median / max over the rounds are reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// The random data's seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print one JSON object per method instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Time forward + backward passes (gradients of random output cotangents)
    /// instead of forward passes.
    #[arg(long)]
    pub backward: bool,
    /// Time the device pipeline with the data resident: after the warm-up round,
    /// the inputs (and with --backward the cotangents) stay on the device and the
    /// outputs (and gradients) are not read back, as in a training loop whose
    /// tensors live on the GPU.
    #[arg(long)]
    pub resident: bool,
    /// The methods to time, interleaved round by round (default: all three).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "METHOD,...")]
    pub methods: Option<Vec<MethodArg>>,
    #[command(flatten)]
    pub solver: SolverArgs,
}

/// Bytes the recurrence must move at least: the hoisted projections read once and
/// the outputs written once.
fn recurrence_bytes(
    cell: &Cell,
    derived: &rnnc::compiler::Derived,
    sizes: &rnnc::compiler::check::DimSizes,
    rows: u64,
) -> u64 {
    let ir = &derived.ir;
    let projected: u64 = ir
        .graph
        .iter()
        .take(ir.step_len)
        .filter(|(h, n)| matches!(n.op, Op::MatVec(..)) && !derived.hoisting.state_dependent[h.index()])
        .map(|(_, n)| n.size().map_or(1, |s| sizes.of(s)))
        .sum();
    let outputs: u64 = cell.outputs.values().map(|o| sizes.of(o.size)).sum();
    4 * rows * (projected + outputs)
}

/// Runs the command.
pub fn run(args: &Args) -> Result<(), Failure> {
    if args.batch == 0 || args.seq == 0 || args.repeat == 0 {
        return Err(Failure::Usage("--batch, --seq and --repeat must be at least 1".into()));
    }
    if args.repeat > MAX_REPEAT {
        return Err(Failure::Usage(format!("--repeat is {}; the most is {MAX_REPEAT}", args.repeat)));
    }
    super::run::check_solver_args(&args.solver)?;
    let (source, cells) = load_and_check(&args.file)?;
    let cell = select_cell(&source, cells, args.cell.as_deref())?;
    let dims = args.dims.clone().unwrap_or_else(|| {
        let DimList(defaults) = default_dims(&cell);
        DimList(defaults.into_iter().map(|(n, s)| (n, s * 2)).collect())
    });
    let sizes = bind_dims(&source, &cell, &dims)?;
    // Every timed run's outputs are kept, and four more copies for the comparison.
    super::check_memory(&cell, &sizes, (args.batch, args.seq), args.backward, args.repeat as u64 + 5)?;
    let engine = args.solver.engine()?;
    let text = rnnc::compiler::source_text(&source.bytes).map_err(|e| super::report_compile_error(&source, e))?;
    let compiled = engine.compile(text, Some(&cell.name)).map_err(|e| Failure::User(e.to_string()))?;
    let failure = |e: &dyn std::fmt::Display| Failure::User(e.to_string());
    let params = random_params(&cell, &sizes, args.seed).map_err(|e| failure(&e))?;
    let inputs = random_inputs(&cell, &sizes, args.batch, args.seq, args.seed + 1).map_err(|e| failure(&e))?;
    let data = compiled.bind(params, inputs, vec![]).map_err(|e| failure(&e))?;
    let bytes = recurrence_bytes(&cell, compiled.derived(), &sizes, (args.batch * args.seq) as u64);

    let douts: Vec<(String, rnnc::Tensor)> = if args.backward {
        cell.outputs
            .values()
            .enumerate()
            .map(|(i, o)| {
                let shape = vec![args.batch, args.seq, sizes.of(o.size) as usize];
                Ok((o.name.clone(), random_tensor(shape, -1.0, 1.0, args.seed + 10 + i as u64)?))
            })
            .collect::<Result<_, rnnc::runtime::data::DataError>>()
            .map_err(|e| failure(&e))?
    } else {
        Vec::new()
    };
    // Methods interleaved: one untimed reference run of each, a warm-up, then round after round of
    // one run of each, so that no method is always timed on a cold or throttled GPU.
    let methods =
        args.methods.clone().unwrap_or_else(|| vec![MethodArg::Sequential, MethodArg::Newton, MethodArg::Auto]);
    let mut samples: Vec<Samples> = methods.iter().map(|_| Samples::default()).collect();
    let mut outputs: Vec<Vec<f32>> = vec![Vec::new(); methods.len()];
    // One run of `method`; `reference` is the first round's, whose outputs come
    // back (the data stays resident only after it).
    let run_once = |method: MethodArg, reference: bool| -> Result<rnnc::Forward, Failure> {
        let resident = args.resident && !reference;
        let options = RunOptions { method: method.into(), newton: args.solver.newton() };
        Ok(if args.backward && resident {
            let report = compiled
                .backward_on_device(&engine, &data, &douts, &options, true)
                .map_err(|e| super::report_run_error(&source, e))?;
            rnnc::Forward { outputs: Vec::new(), report }
        } else if args.backward {
            let backward = compiled
                .backward(&engine, &data, douts.clone(), &options)
                .map_err(|e| super::report_run_error(&source, e))?;
            rnnc::Forward { outputs: backward.outputs, report: backward.report }
        } else if resident {
            let report = compiled
                .forward_on_device(&engine, &data, &options, true)
                .map_err(|e| super::report_run_error(&source, e))?;
            rnnc::Forward { outputs: Vec::new(), report }
        } else {
            compiled.forward(&engine, &data, &options).map_err(|e| super::report_run_error(&source, e))?
        })
    };
    for (m, &method) in methods.iter().enumerate() {
        let run = run_once(method, true)?;
        outputs[m] = run.outputs.iter().flat_map(|(_, t)| t.data().iter().copied()).collect();
    }
    // GPUs lower their clocks while idle and raise them under load only after a
    // while: untimed rounds until WARM_UP has passed, so that the timed ones do
    // not start at idle clocks (H200 run 24: a forward + backward loop timed right
    // after the host-heavy first round ran at 450-700 MHz instead of 1980).
    let warm_up = Instant::now();
    while warm_up.elapsed() < WARM_UP {
        for &method in &methods {
            run_once(method, false)?;
        }
    }
    for _ in 0..args.repeat {
        for (m, &method) in methods.iter().enumerate() {
            let allocations = engine.device_allocations();
            let run = run_once(method, false)?;
            let created = engine.device_allocations().zip(allocations).map(|(after, before)| after - before);
            samples[m].push(run.report, created);
        }
    }
    let reference = outputs[0].clone();
    let dims_text: Vec<String> = dims.0.iter().map(|(n, s)| format!("{n}={s}")).collect();
    let report0 = samples[0].median_report();
    note_backend(report0);
    if !args.json {
        outln!(
            "rnnc bench: {} on {} ({}, {} timing{}), B={} T={} {}, {} rounds",
            cell.name,
            report0.device,
            report0.backend,
            report0.timing,
            if args.resident { ", data resident on the device" } else { "" },
            args.batch,
            args.seq,
            dims_text.join(" "),
            args.repeat
        )?;
        outln!(
            "{:<16} {:>10} {:>10} {:>10} {:>13} {:>13} {:>9} {:>10} {:>9} {:>11}{}",
            "method",
            "min_ms",
            "median_ms",
            "max_ms",
            "projection_ms",
            "recurrence_ms",
            "GB/s",
            "iterations",
            "converged",
            "max|diff|",
            if args.backward { format!(" {:>11} {:>11}", "backward_ms", "fwd+bwd_ms") } else { String::new() }
        )?;
    }
    for ((samples, output), &requested) in samples.iter().zip(&outputs).zip(&methods) {
        let report = samples.median_report();
        let requested = Method::from(requested);
        if requested != Method::Auto && report.method != requested.name() {
            errln!("note: {} ran instead of {} ({})", report.method, requested.name(), report.method_reason);
        }
        warn_about_fallbacks(report);
        let comparison = super::results::compare(output, &reference);
        let difference = comparison.max_abs_difference;
        if comparison.non_finite > 0 {
            errln!("warning: {}: {} output value(s) are not finite", report.method, comparison.non_finite);
        }
        let recurrence_ms = report.recurrence_ms.unwrap_or(report.time_ms - report.projection_ms.unwrap_or(0.0));
        let gbps = bytes as f64 / (recurrence_ms * 1e6);
        let (min, median, max) = samples.spread(|r| r.time_ms);
        let fwd_bwd = samples.spread(|r| r.time_ms + r.backward_ms.unwrap_or(0.0));
        if args.json {
            let line = json!({
                "cell": cell.name, "backend": report.backend, "device": report.device, "method": report.method,
                "requested": requested.name(), "method_reason": report.method_reason,
                "batch": args.batch, "seq": args.seq, "dims": dims_text, "rounds": args.repeat,
                "resident": args.resident,
                "timing": report.timing,
                "time_ms": median, "time_ms_min": min, "time_ms_max": max,
                "samples_ms": samples.reports.iter().map(|r| r.time_ms).collect::<Vec<_>>(),
                "projection_ms": report.projection_ms, "recurrence_ms": recurrence_ms, "recurrence_gb_per_s": gbps,
                "wall_ms": samples.spread(|r| r.wall_ms).1,
                "iterations": report.iterations, "converged": report.converged, "residual": report.residual,
                "fallback_segments": report.fallback_segments, "damped_iterations": report.damped_iterations,
                "max_abs_diff_vs_first": difference,
                "non_finite_outputs": comparison.non_finite,
                "backward_ms": report.backward_ms, "backward_scan_ms": report.backward_scan_ms,
                "gradient_products_ms": report.gradient_products_ms,
                "weight_gradients_ms": report.weight_gradients_ms,
                "input_gradients_ms": report.input_gradients_ms,
                "fwd_bwd_ms": report.backward_ms.map(|_| fwd_bwd.1),
                "fwd_bwd_ms_min": report.backward_ms.map(|_| fwd_bwd.0),
                "fwd_bwd_ms_max": report.backward_ms.map(|_| fwd_bwd.2),
                "device_allocations_per_round": samples.allocations,
            });
            outln!("{line}")?;
        } else {
            let projection = report.projection_ms.map_or("-".to_owned(), |p| format!("{p:.3}"));
            let label =
                if requested == Method::Auto { format!("auto:{}", report.method) } else { report.method.clone() };
            let backward = match report.backward_ms {
                Some(ms) => format!(" {ms:>11.3} {:>11.3}", fwd_bwd.1),
                None => String::new(),
            };
            outln!(
                "{:<16} {:>10.3} {:>10.3} {:>10.3} {:>13} {:>13.3} {:>9.1} {:>10} {:>9} {:>11.3e}{backward}",
                label,
                min,
                median,
                max,
                projection,
                recurrence_ms,
                gbps,
                report.iterations,
                report.converged,
                difference
            )?;
        }
    }
    Ok(())
}

/// The timed runs of one method.
#[derive(Default)]
struct Samples {
    reports: Vec<ForwardReport>,
    /// Device buffers created by each timed run (GPU only).
    allocations: Vec<u64>,
}

impl Samples {
    fn push(&mut self, report: ForwardReport, allocations: Option<u64>) {
        self.reports.push(report);
        self.allocations.extend(allocations);
    }

    /// The report of the run whose total time (forward and backward) is the median.
    fn median_report(&self) -> &ForwardReport {
        let mut order: Vec<&ForwardReport> = self.reports.iter().collect();
        order.sort_by(|a, b| total(a).total_cmp(&total(b)));
        order[order.len() / 2]
    }

    /// The least, median and largest of `value` over the runs.
    fn spread(&self, value: impl Fn(&ForwardReport) -> f64) -> (f64, f64, f64) {
        let mut values: Vec<f64> = self.reports.iter().map(value).collect();
        values.sort_by(f64::total_cmp);
        (values[0], values[values.len() / 2], values[values.len() - 1])
    }
}

fn total(report: &ForwardReport) -> f64 {
    report.time_ms + report.backward_ms.unwrap_or(0.0)
}
