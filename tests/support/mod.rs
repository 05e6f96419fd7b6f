//! What the end-to-end tests share: running the `rnnc` binary.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// The repository root (tests run `rnnc` from here, so paths in messages are relative).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `rnnc ARGS` in the repository root.
pub fn rnnc(args: &[&str]) -> Output {
    rnnc_with_env(args, &[])
}

/// Runs `rnnc ARGS` in the repository root with extra environment variables.
pub fn rnnc_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rnnc"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .output()
        .expect("the rnnc binary runs")
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Whether expectation files should be rewritten instead of compared.
pub fn blessing() -> bool {
    std::env::var_os("RNNC_BLESS").is_some_and(|v| v == "1")
}
