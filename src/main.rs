//! The `rnnc` command line. Exit status: 0 success, 1 an error in the user's files
//! or data (diagnostics on stderr), 2 a usage error.

mod commands;
mod lsp;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use commands::Failure;

/// rnnc: compile recurrent cells and run them in parallel over the sequence.
#[derive(Parser, Debug)]
#[command(
    name = "rnnc",
    version,
    about,
    after_help = "Examples:\n  rnnc check stdlib:para_gru\n  rnnc inspect stdlib:para_lstm --json\n  rnnc lsp                      # for editors: docs/EDITORS.md\n\nShipped cells are named stdlib:NAME (block_elman, elman, gru, indrnn, lstm, mingru, para_gru, para_lstm)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse and check .rnn files; report every error with FILE:LINE:COL.
    Check(commands::check::Args),
    /// Show what the compiler derived for a cell (dims, inputs, states, params, outputs, Jacobian).
    Inspect(commands::inspect::Args),
    /// Emit what the compiler produces for a cell: IR, derivatives, GPU or CPU code.
    Compile(commands::compile::Args),
    /// Run a cell forward over data files (.npy inputs, .safetensors params).
    Run(commands::run::Args),
    /// Gradients of sum(dout * output) w.r.t. params, inputs and initial states.
    Grad(commands::grad::Args),
    /// Time each method on random data and compare their outputs.
    Bench(commands::bench::Args),
    /// Serve the Language Server Protocol on stdin/stdout, for editors.
    Lsp(commands::lsp::Args),
}

/// Deep enough for any input the front end accepts; the parser bounds nesting itself.
const STACK_SIZE: usize = 64 * 1024 * 1024;

fn main() -> ExitCode {
    // The hook writes through `err`, which ignores an unwritable stderr: a panic
    // while printing a panic would abort the process.
    std::panic::set_hook(Box::new(|info| {
        commands::stdio::err(&format!(
            "rnnc: internal error: {info}\nThis is a bug in rnnc; please report it with the input that caused it.\n"
        ));
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { 2 } else { 0 });
        }
    };
    let worker = std::thread::Builder::new().stack_size(STACK_SIZE).spawn(move || run(&cli));
    match worker.map(|handle| handle.join()) {
        Ok(Ok(Ok(()))) => ExitCode::SUCCESS,
        Ok(Ok(Err(failure))) => {
            match &failure {
                Failure::User(message) | Failure::Usage(message) => {
                    commands::stdio::err(&format!("error: {message}\n"))
                }
                Failure::Reported | Failure::StdoutClosed => {}
            }
            ExitCode::from(failure.exit_code())
        }
        _ => ExitCode::from(101),
    }
}

fn run(cli: &Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Check(args) => commands::check::run(args),
        Command::Inspect(args) => commands::inspect::run(args),
        Command::Compile(args) => commands::compile::run(args),
        Command::Run(args) => commands::run::run(args),
        Command::Grad(args) => commands::grad::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Lsp(args) => commands::lsp::run(args),
    }
}
