//! What the commands print, and how a stream that cannot be written ends them.
//!
//! Standard output goes through [`out`] (and the `outln!` macro): a closed pipe
//! (`rnnc inspect ... | head -1`) ends the command quietly with
//! [`Failure::StdoutClosed`] (exit status 0, as ripgrep and other Unix tools do
//! when their reader has gone), any other write error is a [`Failure::User`].
//! Standard error goes through [`err`] (and `errln!`), which never fails: a
//! diagnostic that cannot be shown (`2>/dev/full`, a closed pipe) is dropped,
//! never a panic or an abort. Nothing in `src/` may use `print!`, `println!`,
//! `eprint!` or `eprintln!`: they panic when their stream is gone.

use std::io::{ErrorKind, Write};

use super::Failure;

/// Writes `bytes` to standard output and flushes them.
pub fn out_bytes(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == ErrorKind::BrokenPipe => Err(Failure::StdoutClosed),
        Err(error) => Err(Failure::User(format!("cannot write to standard output: {error}"))),
    }
}

/// Writes `text` to standard output and flushes it.
pub fn out(text: &str) -> Result<(), Failure> {
    out_bytes(text.as_bytes())
}

/// Writes `text` to standard error; a stream that cannot be written is ignored.
pub fn err(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes()).and_then(|()| stderr.flush());
}

/// `println!` to standard output, returning `Result<(), Failure>` (see [`out`]).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::commands::stdio::out(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics (see [`err`]).
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::commands::stdio::err(&format!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {errln, outln};
