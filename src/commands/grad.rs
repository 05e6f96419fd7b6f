//! `rnnc grad FILE --params P.safetensors --input NAME=X.npy... --dout NAME=DY.npy...
//! --out G.safetensors`: the gradients of `sum(dout * output)` with respect to the
//! parameters, inputs and initial states, written as one `.safetensors` file
//! (`param.NAME`, `input.NAME`, `init.NAME`).

use std::path::PathBuf;

use rnnc::RunOptions;
use rnnc::runtime::data::read_safetensors;

use super::run::{MethodArg, SolverArgs, data_error, named_path, read_named, warn_about_fallbacks, write_report};
use super::{Failure, load_and_check, select_cell};

/// Arguments of `rnnc grad`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  rnnc grad stdlib:para_gru --params p.safetensors --input x=x.npy --dout h=dh.npy --out g.safetensors\n  rnnc grad cells.rnn --cell my_lstm --params p.safetensors --input x=x.npy --init c=c0.npy \\\n      --dout h=dh.npy --out g.safetensors --backend cpu --report report.json"
)]
pub struct Args {
    /// A source file, or `stdlib:NAME` for a shipped cell.
    #[arg(value_name = "FILE")]
    pub file: String,
    /// The cell, when the file defines several.
    #[arg(long)]
    pub cell: Option<String>,
    /// Every parameter, one float32 tensor per `param`, named as in the cell.
    #[arg(long, value_name = "P.safetensors")]
    pub params: PathBuf,
    /// An input sequence `[B, T, D]` (float32 .npy), once per input.
    #[arg(long = "input", value_name = "NAME=X.npy", value_parser = named_path, required = true)]
    pub inputs: Vec<(String, PathBuf)>,
    /// An initial state `[B, H]` (float32 .npy); states not given start at zero.
    #[arg(long = "init", value_name = "NAME=H0.npy", value_parser = named_path)]
    pub inits: Vec<(String, PathBuf)>,
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
    #[command(flatten)]
    pub solver: SolverArgs,
}

/// Runs the command: everything is read and checked before any work, and nothing is
/// written unless the run succeeds.
pub fn run(args: &Args) -> Result<(), Failure> {
    let (source, cells) = load_and_check(&args.file)?;
    let cell = select_cell(&source, cells, args.cell.as_deref())?;
    if args.out.extension().is_none_or(|e| e != "safetensors") {
        return Err(Failure::User(format!(
            "{}: gradients are written as one .safetensors file (keys param.NAME, input.NAME, init.NAME)",
            args.out.display()
        )));
    }
    let params = read_safetensors(&args.params).map_err(data_error)?;
    let inputs = read_named(&args.inputs)?;
    let inits = read_named(&args.inits)?;
    let douts = read_named(&args.douts)?;
    let engine = args.solver.engine()?;
    let text = rnnc::compiler::source_text(&source.bytes).map_err(|e| super::report_compile_error(&source, e))?;
    let compiled = engine.compile(text, Some(&cell.name)).map_err(|e| Failure::User(e.to_string()))?;
    let data = compiled.bind(params, inputs, inits).map_err(data_error)?;
    let options = RunOptions { method: args.method.into(), newton: args.solver.newton() };
    let backward = compiled.backward(&engine, &data, douts, &options).map_err(data_error)?;
    backward.gradients.write(&args.out).map_err(data_error)?;
    if let Some(path) = &args.report {
        write_report(path, &backward.report)?;
    }
    warn_about_fallbacks(&backward.report);
    Ok(())
}
