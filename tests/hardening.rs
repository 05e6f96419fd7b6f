//! The command line against a careless or hostile user (issue 11): closed and
//! unwritable streams, extreme sizes and tolerances, bad output paths, odd
//! encodings, non-finite results. Every case must end with exit status 0, 1 or 2
//! and a message naming the problem, never a panic or an abort, with nothing
//! written on failure, quickly and in bounded memory.

mod support;

use std::process::{Command, Output, Stdio};

use support::{rnnc, root, stderr, stdout};

/// Runs `rnnc ARGS` with standard output closed before it writes anything.
fn rnnc_with_stdout_closed(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rnnc"))
        .args(args)
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the rnnc binary runs");
    drop(child.stdout.take());
    child.wait_with_output().expect("rnnc ends")
}

/// Asserts an exit status of the contract and no sign of a panic or an abort.
fn assert_clean_exit(output: &Output, expected: i32, what: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(expected), "{what}: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("internal error") && !err.contains("backtrace"),
        "{what}: {err}"
    );
}

// ---- 1, 2: closed and unwritable streams ----

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let commands: [&[&str]; 6] = [
        &["inspect", "stdlib:para_gru"],
        &["inspect", "stdlib:para_gru", "--json"],
        &["check", "stdlib:gru", "stdlib:lstm"],
        &["compile", "stdlib:gru", "--emit", "ir"],
        &["compile", "stdlib:gru", "--emit", "ir", "-o", "-"],
        &["bench", "stdlib:indrnn", "--backend", "cpu", "--dims", "H=4,D=4", "--batch", "1", "--seq", "8", "--json"],
    ];
    for args in commands {
        let output = rnnc_with_stdout_closed(args);
        assert_clean_exit(&output, 0, &args.join(" "));
        assert_eq!(stderr(&output), "", "{args:?}");
    }
    // A failure before the pipe closed keeps its status.
    let output = rnnc_with_stdout_closed(&["check", "tests/diagnostics/unknown_name.rnn", "stdlib:gru"]);
    assert_clean_exit(&output, 1, "check with an error");
    assert!(stderr(&output).contains("unknown name"), "{}", stderr(&output));
}

#[cfg(target_os = "linux")]
#[test]
fn an_unwritable_stderr_or_stdout_never_aborts() {
    let full = || std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
    let output = Command::new(env!("CARGO_BIN_EXE_rnnc"))
        .args(["check", "tests/diagnostics/unknown_name.rnn"])
        .current_dir(root())
        .stderr(Stdio::from(full()))
        .output()
        .expect("rnnc runs");
    assert_eq!(output.status.code(), Some(1));
    let output = Command::new(env!("CARGO_BIN_EXE_rnnc"))
        .args(["inspect", "stdlib:gru"])
        .current_dir(root())
        .stdout(Stdio::from(full()))
        .output()
        .expect("rnnc runs");
    assert_clean_exit(&output, 1, "stdout on /dev/full");
    assert!(stderr(&output).contains("cannot write to standard output"), "{}", stderr(&output));
}

#[test]
fn dash_as_the_output_means_standard_output() {
    let output = rnnc(&["compile", "stdlib:gru", "--emit", "ir", "-o", "-"]);
    assert_clean_exit(&output, 0, "-o -");
    assert!(stdout(&output).contains("h' = v"), "{}", stdout(&output));
    assert!(!root().join("-").exists(), "a file named `-` was written");
}
