//! Trains a small model with an rnnc cell at its core, end to end through rnnc's
//! backward pass, on the adding problem (a synthetic long-range task with a known
//! answer): `x -> para_gru (rnnc) -> linear readout of the last step -> MSE`, Adam.
//!
//!     cargo run --release --example train_adding                       # CI size, on the GPU
//!     cargo run --release --example train_adding -- --backend cpu      # CI size, on the CPU
//!     cargo run --release --example train_adding -- --full             # the full size (an H200)
//!
//! It shows a progress bar, writes the loss curve (`loss.svg`, `loss.csv`) and the
//! weights (`weights.safetensors`) to `--out`, reloads the weights and checks that
//! they score the same, and prints one JSON line with the numbers. docs/TRAINING.md
//! explains the task, the model and the results.
//!
//! One training step, as in any autodiff framework:
//! 1. `cell.forward_tape` gives the cell's output `h` `[B, T, H]` and a tape (the
//!    forward's states, kept for the backward);
//! 2. the readout `y = w . h[:, T-1] + c` and the loss are computed here, with their
//!    gradients by hand: `dL/dh` is zero except at the last step;
//! 3. `cell.backward_tape` takes the tape and `dL/dh` and gives the gradients of the
//!    cell's parameters (no second forward);
//! 4. Adam updates every tensor, after clipping the gradients' global norm.

mod adam;
mod checkpoint;
mod model;
mod plot;
mod task;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use rnnc::runtime::data::random::SplitMix64;
use rnnc::{Backend, CompiledCell, Engine, ForwardReport, Method, RunOptions, Tensor};

use adam::{Adam, clip_global_norm};
use model::{LossAndGradients, Model, READOUT_C, READOUT_W, fraction_within, mse};
use task::{BASELINE_MSE, Batch, GOOD_MSE, TOLERANCE};

/// The shipped cell at the model's core.
const CELL: &str = "para_gru";

/// Steps in the moving average of the training loss (progress bar, plot, summary).
const AVERAGE_WINDOW: usize = 50;

/// Train a ParaGRU (compiled and differentiated by rnnc) on the adding problem.
#[derive(Parser, Debug)]
struct Args {
    /// Where the cell runs.
    #[arg(long, value_enum, default_value_t = BackendArg::Gpu)]
    backend: BackendArg,
    /// The GPU adapter (an index or part of its name; default: RNNC_ADAPTER, else the best).
    #[arg(long)]
    adapter: Option<String>,
    /// The full-size preset (H = 256, T = 1000, B = 64, 700 steps, lr 3e-3): a run for a large GPU.
    /// Without it, the defaults are the CI size (H = 32, T = 100, B = 32, 600 steps, lr 1e-2).
    #[arg(long)]
    full: bool,
    /// Hidden channels H of the cell (overrides the preset).
    #[arg(long)]
    hidden: Option<usize>,
    /// Sequence length T, at least 2 (overrides the preset).
    #[arg(long)]
    seq: Option<usize>,
    /// Sequences per training batch B (overrides the preset).
    #[arg(long)]
    batch: Option<usize>,
    /// Training steps (overrides the preset).
    #[arg(long)]
    steps: Option<usize>,
    /// Adam's step size (overrides the preset).
    #[arg(long)]
    lr: Option<f64>,
    /// Gradients are scaled down to this global norm when above it.
    #[arg(long, default_value_t = 1.0)]
    clip: f64,
    /// Held-out sequences the final model is evaluated on.
    #[arg(long, default_value_t = 1024)]
    eval: usize,
    /// Seed of the weights and the data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How rnnc evaluates the sequence (forward and backward).
    #[arg(long, value_enum, default_value_t = MethodArg::Auto)]
    method: MethodArg,
    /// The folder for loss.svg, loss.csv and weights.safetensors.
    #[arg(long, default_value = "target/train_adding")]
    out: PathBuf,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendArg {
    Gpu,
    Cpu,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum MethodArg {
    Auto,
    Newton,
    Sequential,
}

/// The sizes and step size of one run.
#[derive(Clone, Copy, Debug)]
struct Settings {
    hidden: usize,
    seq: usize,
    batch: usize,
    steps: usize,
    lr: f64,
}

impl Settings {
    /// The preset (CI size, or `--full`), with any size given on the command line.
    fn from_args(args: &Args) -> Result<Settings, String> {
        let preset = if args.full {
            Settings { hidden: 256, seq: 1000, batch: 64, steps: 700, lr: 3e-3 }
        } else {
            Settings { hidden: 32, seq: 100, batch: 32, steps: 600, lr: 1e-2 }
        };
        let settings = Settings {
            hidden: args.hidden.unwrap_or(preset.hidden),
            seq: args.seq.unwrap_or(preset.seq),
            batch: args.batch.unwrap_or(preset.batch),
            steps: args.steps.unwrap_or(preset.steps),
            lr: args.lr.unwrap_or(preset.lr),
        };
        if settings.hidden == 0 || settings.batch == 0 || settings.steps == 0 || args.eval == 0 {
            return Err("--hidden, --batch, --steps and --eval must be positive".to_owned());
        }
        if settings.seq < 2 {
            return Err(format!("--seq must be at least 2 (two marked steps), not {}", settings.seq));
        }
        let positive = |value: f64| value.is_finite() && value > 0.0;
        if !positive(settings.lr) || !positive(args.clip) {
            return Err("--lr and --clip must be positive numbers".to_owned());
        }
        Ok(settings)
    }
}

/// One training step's results.
struct Step {
    loss: f64,
    grads: BTreeMap<String, Tensor>,
    report: ForwardReport,
    /// Seconds in `cell.forward` and in `cell.backward` (transfers included).
    forward_s: f64,
    backward_s: f64,
}

/// The compiled cell on its engine, and how to run it.
struct Trainer {
    engine: Engine,
    cell: CompiledCell,
    options: RunOptions,
}

impl Trainer {
    /// The cell's output `h` `[B, T, H]` for the inputs `x` under `model`.
    fn hidden_states(&self, model: &Model, x: &Tensor) -> Result<Tensor, String> {
        let data = self.cell.bind(model.cell_params(), vec![("x".to_owned(), x.clone())], vec![]).map_err(text)?;
        let forward = self.cell.forward(&self.engine, &data, &self.options).map_err(text)?;
        take_output(forward.outputs)
    }

    /// The loss of `batch`, the gradient of every tensor of `model`, and what rnnc's
    /// solvers did in the backward pass.
    fn loss_and_gradients(&self, model: &Model, batch: &Batch) -> Result<Step, String> {
        let data =
            self.cell.bind(model.cell_params(), vec![("x".to_owned(), batch.x.clone())], vec![]).map_err(text)?;
        // Forward through the cell, then the readout and the loss (and their gradients).
        let clock = Instant::now();
        // The tape keeps the forward's states for the backward (no second forward).
        let (forward, tape) = self.cell.forward_tape(&self.engine, &data, &self.options).map_err(text)?;
        let forward_s = clock.elapsed().as_secs_f64();
        let h = take_output(forward.outputs)?;
        let LossAndGradients { loss, dh, dw, dc } = model.loss_and_gradients(&h, &batch.targets)?;
        // Backward through the cell: the gradients of sum(dh * h) for its parameters.
        let clock = Instant::now();
        let (gradients, report) =
            self.cell.backward_tape(&self.engine, &data, tape, vec![("h".to_owned(), dh)]).map_err(text)?;
        let backward_s = clock.elapsed().as_secs_f64();
        let mut grads: BTreeMap<String, Tensor> = gradients.params.into_iter().collect();
        grads.insert(READOUT_W.to_owned(), dw);
        grads.insert(READOUT_C.to_owned(), dc);
        Ok(Step { loss, grads, report, forward_s, backward_s })
    }

    /// The mean squared error of `model` over `batches`, and the fraction of the
    /// sequences answered within [`TOLERANCE`].
    fn evaluate(&self, model: &Model, batches: &[Batch]) -> Result<(f64, f64), String> {
        let (mut predictions, mut targets) = (Vec::new(), Vec::new());
        for batch in batches {
            predictions.extend(model.predict(&self.hidden_states(model, &batch.x)?)?);
            targets.extend_from_slice(&batch.targets);
        }
        Ok((mse(&predictions, &targets), fraction_within(&predictions, &targets, TOLERANCE)))
    }
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let settings = Settings::from_args(args)?;
    let Settings { hidden, seq, batch, steps, lr } = settings;
    let backend = match args.backend {
        BackendArg::Gpu => Backend::Gpu,
        BackendArg::Cpu => Backend::Cpu,
    };
    let engine = Engine::new(backend, args.adapter.as_deref())
        .map_err(|e| format!("no usable GPU: {e}\n(this example also runs on the CPU: add `--backend cpu`)"))?;
    let source = rnnc_stdlib::get(CELL).ok_or(format!("rnnc ships no cell `{CELL}`"))?.source;
    let cell = engine.compile(source, Some(CELL)).map_err(text)?;
    let method = match args.method {
        MethodArg::Auto => Method::Auto,
        MethodArg::Newton => Method::Newton,
        MethodArg::Sequential => Method::Sequential,
    };
    let mut model = Model::init(&cell.derived().cell, hidden, seq, args.seed)?;
    let trainer = Trainer { engine, cell, options: RunOptions { method, ..RunOptions::default() } };
    eprintln!(
        "{CELL} (H = {hidden}) on {}: the adding problem, T = {seq}, B = {batch}, {steps} steps, Adam lr = {lr}",
        trainer.engine.device()
    );

    // The output folder first: a run should not fail there after training.
    std::fs::create_dir_all(&args.out).map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;

    // Training and held-out data come from separate streams of the seed.
    let mut eval_rng = SplitMix64::new(args.seed ^ 0x5eed_e7a1);
    let eval_batches: Vec<Batch> =
        (0..args.eval.div_ceil(batch)).map(|_| task::sample(&mut eval_rng, batch, seq)).collect();

    let mut train_rng = SplitMix64::new(args.seed);
    let training = train(&trainer, &mut model, &settings, args.clip, &mut train_rng)?;
    let Training { losses, seconds, .. } = &training;
    let average = plot::moving_average(losses, AVERAGE_WINDOW);
    let final_train_mse = average.last().copied().unwrap_or(f64::NAN);

    // Evaluate, save, reload, and check that the reloaded weights score the same.
    let (eval_mse, eval_within) = trainer.evaluate(&model, &eval_batches)?;
    write_curve(&args.out, losses, &average, &settings, eval_mse)?;
    let weights = args.out.join("weights.safetensors");
    checkpoint::save(&model, &weights)?;
    let reloaded = checkpoint::load(&weights)?;
    let (reloaded_eval_mse, _) = trainer.evaluate(&reloaded, &eval_batches)?;
    // The weights round-trip exactly; the tolerance only allows for a solver whose
    // floating-point order differs between runs.
    if (reloaded_eval_mse - eval_mse).abs() > 1e-5 * eval_mse.abs() {
        return Err(format!("the reloaded weights score {reloaded_eval_mse}, the trained ones {eval_mse}"));
    }
    let eval_targets: Vec<f32> = eval_batches.iter().flat_map(|b| b.targets.iter().copied()).collect();
    eprintln!(
        "trained in {seconds:.1} s: training MSE {final_train_mse:.5} (last {AVERAGE_WINDOW} steps), held-out MSE \
         {eval_mse:.5} ({:.1}% of the sequences within {TOLERANCE}; reloaded from {}: the same), baseline \
         {BASELINE_MSE:.4}",
        100.0 * eval_within,
        weights.display()
    );
    let summary = serde_json::json!({
        "task": "adding",
        "baseline_mse": BASELINE_MSE,
        "final_train_mse": final_train_mse,
        "eval_mse": eval_mse,
        "steps": steps,
        "seconds": seconds,
        "seconds_in_forward": training.forward_s,
        "seconds_in_backward": training.backward_s,
        "backend": format!("{:?}", args.backend).to_lowercase(),
        "eval_baseline_mse": task::baseline_on(&eval_targets),
        "good_mse": GOOD_MSE,
        "eval_within_tolerance": eval_within,
        "reloaded_eval_mse": reloaded_eval_mse,
        "hidden": hidden,
        "seq": seq,
        "batch": batch,
        "lr": lr,
        "seed": args.seed,
        "device": trainer.engine.device(),
        "method": format!("{:?}", args.method).to_lowercase(),
        "solver": training.solver,
        "newton_iterations_max": training.most_iterations,
        "out": args.out.display().to_string(),
    });
    println!("{summary}");
    Ok(())
}

/// What a training run leaves besides the trained model.
struct Training {
    /// The loss of every step.
    losses: Vec<f64>,
    /// Wall time of the whole loop, and of its calls to `cell.forward` and `cell.backward`.
    seconds: f64,
    forward_s: f64,
    backward_s: f64,
    /// The method rnnc's solver ran (`newton` or `sequential`), and the most Newton
    /// iterations any step needed.
    solver: String,
    most_iterations: u32,
}

/// Trains `model` for `settings.steps` steps on fresh batches from `rng`, with a
/// progress bar (or, without a terminal, a line every 5% of the steps).
fn train(
    trainer: &Trainer,
    model: &mut Model,
    settings: &Settings,
    clip: f64,
    rng: &mut SplitMix64,
) -> Result<Training, String> {
    let Settings { seq, batch, steps, lr, .. } = *settings;
    let style = "{bar:30.cyan/blue} {pos}/{len} steps  {msg}  [{elapsed_precise} < {eta_precise}]";
    let progress = ProgressBar::new(steps as u64).with_style(ProgressStyle::with_template(style).map_err(text)?);
    let log_every = if progress.is_hidden() { steps.div_ceil(20) } else { usize::MAX };
    let mut adam = Adam::new(lr as f32);
    let mut training = Training {
        losses: Vec::with_capacity(steps),
        seconds: 0.0,
        forward_s: 0.0,
        backward_s: 0.0,
        solver: String::new(),
        most_iterations: 0,
    };
    let start = Instant::now();
    for step in 1..=steps {
        let data = task::sample(rng, batch, seq);
        let Step { loss, mut grads, report, forward_s, backward_s } = trainer.loss_and_gradients(model, &data)?;
        if !loss.is_finite() {
            return Err(format!("the loss is {loss} at step {step}; try a smaller --lr"));
        }
        clip_global_norm(&mut grads, clip);
        adam.step(&mut model.params, &grads)?;

        training.losses.push(loss);
        training.forward_s += forward_s;
        training.backward_s += backward_s;
        training.most_iterations = training.most_iterations.max(report.iterations);
        training.solver = report.method;
        let recent = &training.losses[step.saturating_sub(AVERAGE_WINDOW)..];
        let message = format!("loss {loss:.4}  average {:.4}", recent.iter().sum::<f64>() / recent.len() as f64);
        if step % log_every == 0 {
            eprintln!("step {step}/{steps}  {message}  {:.1} s", start.elapsed().as_secs_f64());
        }
        progress.set_message(message);
        progress.inc(1);
    }
    progress.finish();
    training.seconds = start.elapsed().as_secs_f64();
    Ok(training)
}

/// Writes `loss.svg` and `loss.csv` (step, loss, moving average) to `out`.
fn write_curve(out: &Path, losses: &[f64], average: &[f64], s: &Settings, eval_mse: f64) -> Result<(), String> {
    let curve = plot::LossCurve {
        title: format!(
            "{CELL} (H = {}) on the adding problem, T = {}, B = {}: held-out MSE {eval_mse:.4}",
            s.hidden, s.seq, s.batch
        ),
        losses,
        average,
        levels: vec![
            plot::Level {
                label: "baseline: always 1 (1/6)".to_owned(),
                value: BASELINE_MSE,
                color: "#d62728",
                dash: "7 4",
            },
            plot::Level { label: format!("solved: MSE {GOOD_MSE}"), value: GOOD_MSE, color: "#2ca02c", dash: "2 3" },
        ],
    };
    let svg_path = out.join("loss.svg");
    std::fs::write(&svg_path, plot::render(&curve)).map_err(|e| format!("cannot write {}: {e}", svg_path.display()))?;
    let mut csv = String::from("step,loss,moving_average\n");
    for (i, (loss, avg)) in losses.iter().zip(average).enumerate() {
        csv.push_str(&format!("{},{loss},{avg}\n", i + 1));
    }
    let csv_path = out.join("loss.csv");
    std::fs::write(&csv_path, csv).map_err(|e| format!("cannot write {}: {e}", csv_path.display()))
}

/// The cell's only output, `h`.
fn take_output(outputs: Vec<(String, Tensor)>) -> Result<Tensor, String> {
    outputs.into_iter().find(|(name, _)| name == "h").map(|(_, h)| h).ok_or("the cell has no output `h`".to_owned())
}

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}
