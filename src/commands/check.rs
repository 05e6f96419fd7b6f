//! `rnnc check FILE...`: parse and check every file, report every error.

use super::stdio::{errln, outln};
use super::{DimList, Failure, bind_dims, load_and_check, parse_dims};

/// Arguments of `rnnc check`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  rnnc check cells/my_gru.rnn\n  rnnc check stdlib:para_lstm stdlib:gru\n  rnnc check my_cell.rnn --dims H=1024,D=512"
)]
pub struct Args {
    /// Source files, or `stdlib:NAME` for a shipped cell.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// Also check every cell against these sizes, e.g. `H=1024,D=512`.
    #[arg(long, value_name = "NAME=SIZE,...", value_parser = parse_dims)]
    pub dims: Option<DimList>,
}

/// Runs the command; every file is checked even after one fails.
pub fn run(args: &Args) -> Result<(), Failure> {
    let mut failure: Option<Failure> = None;
    for spec in &args.files {
        let outcome = load_and_check(spec).and_then(|(source, cells)| {
            if let Some(dims) = &args.dims {
                for cell in &cells {
                    bind_dims(&source, cell, dims)?;
                }
            }
            Ok((source, cells))
        });
        match outcome {
            Ok((source, cells)) => {
                let names: Vec<&str> = cells.iter().map(|c| c.name.as_str()).collect();
                if let Err(closed) = outln!("{}: ok ({})", source.name, names.join(", ")) {
                    return Err(failure.unwrap_or(closed));
                }
            }
            Err(Failure::User(message)) => {
                errln!("error: {message}");
                failure.get_or_insert(Failure::Reported);
            }
            Err(Failure::Usage(message)) => return Err(Failure::Usage(message)),
            Err(Failure::Reported) => {
                failure.get_or_insert(Failure::Reported);
            }
            Err(Failure::StdoutClosed) => return Err(failure.unwrap_or(Failure::StdoutClosed)),
        }
    }
    failure.map_or(Ok(()), Err)
}
