//! `rnnc grad FILE --params P.safetensors --input NAME=X.npy... --dout NAME=DY.npy...
//! --out G.safetensors`: the gradients of `sum(dout * output)` with respect to the
//! parameters, inputs and initial states, written as one `.safetensors` file
//! (`param.NAME`, `input.NAME`, `init.NAME`).

use std::path::PathBuf;

use rnnc::RunOptions;
use rnnc::runtime::data::{NonFiniteOutputs, NonFiniteTensors, StagedFiles};

use super::Failure;
use super::paths::{Named, check_outputs};
use super::results::NonFinite;
use super::run::{
    DataArgs, MethodArg, SolverArgs, check_solver_args, data_error, named_path, note_backend, output_files, read_named,
    stage_report, warn_about_fallbacks,
};

/// Arguments of `rnnc grad`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  rnnc grad stdlib:para_gru --params p.safetensors --input x=x.npy --dout h=dh.npy --out g.safetensors\n  rnnc grad cells.rnn --cell my_lstm --params p.safetensors --input x=x.npy --init c=c0.npy \\\n      --dout h=dh.npy --out g.safetensors --backend cpu --report report.json"
)]
pub struct Args {
    #[command(flatten)]
    pub data: DataArgs,
    /// The cotangent `[B, T, H]` of an output (float32 .npy); outputs not given have zero.
    #[arg(long = "dout", value_name = "NAME=DY.npy", value_parser = named_path, required = true)]
    pub douts: Vec<(String, PathBuf)>,
    /// Where the gradients go (`.safetensors`).
    #[arg(long, value_name = "G.safetensors")]
    pub out: PathBuf,
    /// How to evaluate the sequence forward (the backward follows: Newton with the
    /// reverse scan, sequential with the sequential backward).
    #[arg(long, value_enum, default_value = "auto")]
    pub method: MethodArg,
    /// Also write what the solver did as JSON here (with `backward_ms`).
    #[arg(long, value_name = "REPORT.json")]
    pub report: Option<PathBuf>,
    /// Treat a NaN or infinite gradient or output as an error (exit 1, nothing
    /// written) instead of a warning.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub solver: SolverArgs,
}

/// Runs the command: everything is read and checked before any work, and nothing is
/// written unless the run succeeds.
pub fn run(args: &Args) -> Result<(), Failure> {
    check_solver_args(&args.solver)?;
    let mut inputs = args.data.files();
    inputs.extend(args.douts.iter().map(|(name, path)| Named::new(&format!("--dout {name}="), path)));
    check_outputs(&inputs, &output_files(&args.out, args.report.as_deref()))?;
    let (source, cell) = args.data.cell()?;
    if args.out.extension().is_none_or(|e| e != "safetensors") {
        return Err(Failure::User(format!(
            "{}: gradients are written as one .safetensors file (keys param.NAME, input.NAME, init.NAME)",
            args.out.display()
        )));
    }
    let douts = read_named(&args.douts)?;
    let (engine, compiled, data) = args.data.bind(&source, &cell, || args.solver.engine())?;
    let options = RunOptions { method: args.method.into(), newton: args.solver.newton() };
    let backward =
        compiled.backward(&engine, &data, douts, &options).map_err(|e| super::report_run_error(&source, e))?;
    let keyed = backward.gradients.keyed();
    let non_finite = NonFinite {
        outputs: NonFiniteOutputs::of(&backward.outputs),
        gradients: Some(NonFiniteTensors::of(keyed.iter().map(|(key, tensor)| (key.as_str(), *tensor)))),
    };
    non_finite.check_strict(args.strict)?;
    // Every file is written in full before any is put in place.
    let mut files = StagedFiles::new();
    backward.gradients.stage(&mut files, &args.out).map_err(data_error)?;
    if let Some(path) = &args.report {
        stage_report(&mut files, path, &non_finite.report(&backward.report)?)?;
    }
    files.commit().map_err(data_error)?;
    non_finite.warn();
    note_backend(&backward.report);
    warn_about_fallbacks(&backward.report);
    Ok(())
}
