//! `rnnc lsp`: a Language Server Protocol server for `.rnn` files, over stdio.
//!
//! Built on `lsp-server` and `lsp-types`, rust-analyzer's own crates: a
//! synchronous message loop over crossbeam channels, with no async runtime, which
//! suits a compiler that answers in microseconds to milliseconds and is pure
//! (docs/EDITORS.md says more). Everything the server says comes from the
//! compiler: diagnostics are `rnnc check`'s errors with their spans, names are
//! resolved by `check::lookup`, shapes read from the checked cell, the Jacobian
//! structure and hoisting from `derive_cell`. Nothing is re-derived here.
//!
//! - `server`: the state (documents, derived facts) and the main loop;
//! - `document`, `position`: the document store and LSP positions;
//! - `analysis`, `recover`: one version's check errors, tolerant tree and
//!   checked cells;
//! - `diagnostics`, `hover`, `definition`, `symbols`, `completion`, `lens`
//!   (code lens and inlay hint): one request each;
//! - `facts`, `builtins`: what the compiler proved of a cell, and the built-in
//!   functions, in words.

mod analysis;
mod builtins;
mod completion;
mod definition;
mod diagnostics;
mod document;
mod facts;
mod hover;
mod lens;
mod position;
mod recover;
mod server;
mod symbols;
#[cfg(test)]
mod tests;

use lsp_server::Connection;

/// Serves the protocol on standard input and output until the client exits.
pub fn serve_stdio() -> Result<(), String> {
    let (connection, io_threads) = Connection::stdio();
    server::run(&connection)?;
    drop(connection);
    io_threads.join().map_err(|e| format!("language server I/O: {e}"))
}
