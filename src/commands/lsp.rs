//! `rnnc lsp`: the language server, on stdin and stdout (see `crate::lsp`).

use super::Failure;

/// Arguments of `rnnc lsp`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Editors start it themselves; docs/EDITORS.md shows how (VS Code: editors/vscode/, Neovim, Helix).\n\nExample:\n  rnnc lsp"
)]
pub struct Args {
    /// Talk over stdin and stdout (the only transport, and the default; accepted
    /// because VS Code's client passes it).
    #[arg(long)]
    pub stdio: bool,
}

/// Serves until the client exits.
pub fn run(_args: &Args) -> Result<(), Failure> {
    crate::lsp::serve_stdio().map_err(Failure::User)
}
