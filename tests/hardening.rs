//! The command line against a careless or hostile user (issue 11): closed and
//! unwritable streams, extreme sizes and tolerances, bad output paths, odd
//! encodings, non-finite results. Every case must end with exit status 0, 1 or 2
//! and a message naming the problem, never a panic or an abort, with nothing
//! written on failure, quickly and in bounded memory.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rnnc::runtime::data::random::{random_inputs, random_params};
use rnnc::runtime::data::{write_npy, write_safetensors};
use support::{rnnc, root, stderr, stdout};

/// A fresh directory for one test.
fn workdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rnnc-hardening-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Random parameters (`params.safetensors`) and input (`x.npy`) for
/// `stdlib:indrnn` with H = D = 4, B = 2, T = 16, written to `dir`.
fn indrnn_data(dir: &Path) -> (String, String) {
    let cell =
        rnnc::compiler::check_source(rnnc_stdlib::get("indrnn").expect("shipped").source).expect("checks").remove(0);
    let sizes = cell.bind_dims(|_| Some(4)).expect("binds");
    let params = random_params(&cell, &sizes, 1).expect("params");
    let params_path = dir.join("params.safetensors");
    write_safetensors(&params_path, params.iter().map(|(n, t)| (n.as_str(), t))).expect("writes");
    let (_, x) = random_inputs(&cell, &sizes, 2, 16, 2).expect("inputs").remove(0);
    let x_path = dir.join("x.npy");
    write_npy(&x_path, &x).expect("writes");
    (text(&params_path), text(&x_path))
}

/// Runs `rnnc ARGS` with at most 1 GiB of address space (`ulimit -v`), and
/// `RNNC_MEMORY_LIMIT` set to `limit` if given: a rejected request must be
/// refused before anything large is allocated.
#[cfg(unix)]
fn rnnc_in_1_gib(args: &[&str], limit: Option<&str>) -> Output {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_rnnc"))
        .args(args)
        .current_dir(root());
    if let Some(limit) = limit {
        command.env("RNNC_MEMORY_LIMIT", limit);
    }
    command.output().expect("sh runs")
}

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

// ---- 9, 12 and the minor ones: what a source file may be ----

#[cfg(unix)]
#[test]
fn an_endless_source_is_refused_at_the_size_limit() {
    let start = Instant::now();
    let output = rnnc(&["check", "/dev/zero"]);
    assert_clean_exit(&output, 1, "check /dev/zero");
    assert_eq!(
        stderr(&output),
        "error: cannot read `/dev/zero`: it is larger than 16777216 bytes (16 MiB), the most a source file may hold\n"
    );
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
}

#[test]
fn a_byte_order_mark_and_old_mac_line_breaks_are_read_as_editors_show_them() {
    let dir = workdir("encodings");
    let bom = dir.join("bom.rnn");
    std::fs::write(&bom, b"\xEF\xBB\xBFcell c { dim H; input x: [H]; state h: [H]; h' = tanh(h + x); output h; }\n")
        .expect("writable");
    let output = rnnc(&["check", &text(&bom)]);
    assert_clean_exit(&output, 0, "a cell with a byte-order mark");
    let wrong = dir.join("bom_error.rnn");
    std::fs::write(&wrong, b"\xEF\xBB\xBFcell c { dim H; input x: [H]; state h: [H]; h' = q; output h; }\n")
        .expect("writable");
    let output = rnnc(&["check", &text(&wrong)]);
    assert_clean_exit(&output, 1, "an error after a byte-order mark");
    assert!(stderr(&output).contains("bom_error.rnn:1:50"), "{}", stderr(&output));
    let cr = dir.join("cr.rnn");
    let source =
        "cell c {\r  dim H;\r  // ((( a comment ends at a lone CR\r  state h: [H];\r  h' = q;\r  output h;\r}\r";
    std::fs::write(&cr, source).expect("writable");
    let output = rnnc(&["check", &text(&cr)]);
    assert_clean_exit(&output, 1, "old Mac line breaks");
    let err = stderr(&output);
    assert!(err.contains("cr.rnn:5:8") && err.contains("5 |   h' = q;"), "{err}");
    assert!(!err.contains('\r'), "{err:?}");
}

#[test]
fn an_error_on_a_long_line_prints_a_window_of_it() {
    let dir = workdir("long-line");
    let path = dir.join("long.rnn");
    let source =
        format!("cell c {{ dim H; input x: [H]; state h: [H]; h' = {}q; output h; }}\n", "h + ".repeat(250_000));
    std::fs::write(&path, source).expect("writable");
    let output = rnnc(&["check", &text(&path)]);
    assert_clean_exit(&output, 1, "a 1 MB line");
    let err = stderr(&output);
    assert!(err.len() < 1000, "{} bytes of diagnostics", err.len());
    assert!(err.contains("long.rnn:1:1000050") && err.contains("h + q; output h; }"), "{err}");
}

// ---- 3: sizes beyond what the host can hold ----

#[cfg(unix)]
#[test]
fn bench_refuses_sizes_the_host_cannot_hold_before_allocating() {
    let cases: [(&str, &str, &str, &str); 4] = [
        ("H=4,D=4", "99999999999", "8", "the batch size B is 99999999999; the largest is 4294967295"),
        ("H=128,D=128", "4", "100000000", "a run of cell `indrnn` with B = 4, T = 100000000"),
        ("H=700000000,D=4", "1", "8", "(parameters 15.6 GiB (16800000000 bytes)"),
        ("H=4,D=4", "4294967295", "4294967295", "does not fit in 64 bits"),
    ];
    for (dims, batch, seq, expected) in cases {
        let start = Instant::now();
        let args = ["bench", "stdlib:indrnn", "--backend", "cpu", "--dims", dims, "--batch", batch, "--seq", seq];
        let output = rnnc_in_1_gib(&args, Some("16G"));
        assert_clean_exit(&output, 1, &args.join(" "));
        assert!(stderr(&output).contains(expected), "{args:?}: {}", stderr(&output));
        assert!(start.elapsed() < Duration::from_secs(5), "{args:?} took {:?}", start.elapsed());
    }
    let output = rnnc_in_1_gib(
        &["bench", "stdlib:indrnn", "--backend", "cpu", "--dims", "H=64,D=64", "--batch", "64", "--seq", "4096"],
        Some("1M"),
    );
    assert_clean_exit(&output, 1, "a bench beyond RNNC_MEMORY_LIMIT");
    assert!(stderr(&output).contains("is the limit set by RNNC_MEMORY_LIMIT"), "{}", stderr(&output));
    // Every timed run's outputs are kept: they count, and --repeat is bounded.
    let args = ["bench", "stdlib:indrnn", "--backend", "cpu", "--dims", "H=64,D=64", "--batch", "16", "--seq", "256"];
    let output = rnnc_in_1_gib(&[&args[..], &["--repeat", "100"]].concat(), Some("16M"));
    assert_clean_exit(&output, 1, "100 kept runs");
    assert!(stderr(&output).contains("105 more copies of the outputs"), "{}", stderr(&output));
    let output = rnnc_in_1_gib(&[&args[..], &["--repeat", "1000000"]].concat(), None);
    assert_clean_exit(&output, 2, "--repeat 1000000");
    assert!(stderr(&output).contains("--repeat is 1000000; the most is 100"), "{}", stderr(&output));
}

// ---- 9 and the minor ones: parameter files ----

#[cfg(unix)]
#[test]
fn parameter_files_are_read_only_as_far_as_their_header_allows() {
    let dir = workdir("params");
    let (params, x) = indrnn_data(&dir);
    let out = text(&dir.join("h.npy"));
    let run = |params: &str| {
        let x = format!("x={x}");
        rnnc_in_1_gib(
            &["run", "stdlib:indrnn", "--backend", "cpu", "--params", params, "--input", &x, "--out", &out],
            None,
        )
    };
    let truncated = dir.join("truncated.safetensors");
    let bytes = std::fs::read(&params).expect("readable");
    std::fs::write(&truncated, &bytes[..bytes.len() - 3]).expect("writable");
    let cases = [
        ("/dev/zero".to_owned(), "/dev/zero: not a valid .safetensors file: its header is empty"),
        (x.clone(), "x.npy: not a valid .safetensors file: this is a .npy file"),
        (
            text(&truncated),
            "truncated.safetensors: not a valid .safetensors file: the file is truncated: its header declares",
        ),
    ];
    for (path, expected) in cases {
        let start = Instant::now();
        let output = run(&path);
        assert_clean_exit(&output, 1, &path);
        assert!(stderr(&output).contains(expected), "{path}: {}", stderr(&output));
        assert!(start.elapsed() < Duration::from_secs(5), "{path} took {:?}", start.elapsed());
    }
    assert!(!dir.join("h.npy").exists());
    assert_clean_exit(&run(&params), 0, "the valid file");
}

// ---- 10 and the minor ones: sizes a kernel cannot index ----

#[test]
fn sizes_beyond_kernel_indices_are_named_before_any_back_end_runs() {
    for emit in ["wgsl", "spirv", "clif", "ir"] {
        let output = rnnc(&["compile", "stdlib:indrnn", "--emit", emit, "--dims", "H=65536,D=65536"]);
        let expected = if emit == "ir" { 0 } else { 1 };
        assert_clean_exit(&output, expected, emit);
        if expected == 1 {
            let err = stderr(&output);
            assert!(
                err.starts_with(
                    "error: parameter `W` ([H, D] = 65536 x 65536) would hold 4294967296 values, more than the \
                     4294967295 one kernel buffer can hold (kernels index their buffers with 32-bit integers)\n"
                ) && err.contains("stdlib:indrnn:11:11"),
                "{emit}: {err}"
            );
        }
    }
    let output = rnnc(&["compile", "stdlib:indrnn", "--emit", "clif", "--dims", "H=65536,D=32768"]);
    assert_clean_exit(&output, 1, "clif beyond 2 GiB");
    assert!(
        stderr(&output).starts_with(
            "error: the packed parameters of cell `indrnn` would hold 2147614720 values, more than the 536870911 \
             one kernel buffer can hold (the CPU kernels address it with 32-bit byte offsets, below 2 GiB)\n"
        ),
        "{}",
        stderr(&output)
    );
    let output = rnnc(&["check", "stdlib:indrnn", "--dims", "H=4294967295,D=4294967295"]);
    assert_clean_exit(&output, 1, "check with huge dims");
    assert!(stderr(&output).contains("would hold 18446744065119617025 values"), "{}", stderr(&output));
}

#[test]
fn a_dim_given_twice_is_a_usage_error() {
    let output = rnnc(&["check", "stdlib:gru", "--dims", "H=4,D=2,H=8"]);
    assert_clean_exit(&output, 2, "--dims H=4,D=2,H=8");
    assert!(stderr(&output).contains("dim `H` is given twice (H=4 and H=8)"), "{}", stderr(&output));
}

// ---- 4, 5: Newton's settings ----

#[test]
fn unusable_tolerances_and_iteration_caps_are_usage_errors() {
    let dir = workdir("tolerances");
    let (params, x) = indrnn_data(&dir);
    let out = text(&dir.join("h.npy"));
    let x = format!("x={x}");
    let cases: [(&[&str], &str); 5] = [
        (
            &["--rtol", "nan"],
            "--rtol: Newton's relative tolerance `rtol` must be a finite number at least 0, found NaN",
        ),
        (&["--atol=-1"], "--atol: Newton's absolute tolerance `atol` must be a finite number at least 0, found -1"),
        (&["--atol", "inf"], "found inf"),
        (&["--max-iterations", "4294967295"], "`max_iterations` must be between 1 and 1024, found 4294967295"),
        (&["--max-iterations", "0"], "found 0"),
    ];
    for (flags, expected) in cases {
        let start = Instant::now();
        let mut args = vec!["run", "stdlib:indrnn", "--backend", "cpu", "--method", "newton", "--params", &params];
        args.extend(["--input", &x, "--out", &out]);
        args.extend(flags);
        let output = rnnc(&args);
        assert_clean_exit(&output, 2, &flags.join(" "));
        assert!(stderr(&output).contains(expected), "{flags:?}: {}", stderr(&output));
        assert!(start.elapsed() < Duration::from_secs(5));
        let mut bench = vec!["bench", "stdlib:indrnn", "--backend", "cpu", "--dims", "H=4,D=4", "--seq", "8"];
        bench.extend(flags);
        assert_clean_exit(&rnnc(&bench), 2, &bench.join(" "));
    }
    assert!(!dir.join("h.npy").exists());
}

#[test]
fn the_api_refuses_unusable_settings_too() {
    let engine = rnnc::Engine::new(rnnc::Backend::Cpu, None).expect("the CPU");
    let cell = engine.compile(rnnc_stdlib::get("indrnn").expect("shipped").source, None).expect("compiles");
    let source = cell.derived().cell.clone();
    let sizes = source.bind_dims(|_| Some(4)).expect("binds");
    let params = random_params(&source, &sizes, 1).expect("params");
    let data = cell.bind(params, random_inputs(&source, &sizes, 1, 8, 2).expect("inputs"), vec![]).expect("binds");
    let newton = rnnc::NewtonSettings { rtol: f32::NAN, ..rnnc::NewtonSettings::default() };
    let options = rnnc::RunOptions { method: rnnc::Method::Newton, newton };
    let error = cell.forward(&engine, &data, &options).expect_err("NaN rtol");
    assert!(error.to_string().contains("`rtol` must be a finite number at least 0, found NaN"), "{error}");
}

// ---- 6, 7: outputs written together, never over an input ----

#[test]
fn a_failing_output_leaves_every_output_as_it_was() {
    let dir = workdir("atomic");
    let (params, x) = indrnn_data(&dir);
    let x = format!("x={x}");
    let out = dir.join("h.npy");
    std::fs::write(&out, b"the previous output").expect("writable");
    let missing = text(&dir.join("missing/r.json"));
    let folder = text(&dir);
    let mut reports = vec![(missing.as_str(), "the folder"), (folder.as_str(), "it is a directory")];
    if cfg!(target_os = "linux") {
        reports.push(("/proc/r.json", "cannot write /proc/r.json"));
    }
    for (report, expected) in reports {
        let args = ["run", "stdlib:indrnn", "--backend", "cpu", "--params", &params, "--input", &x];
        let output = rnnc(&[&args[..], &["--out", &text(&out), "--report", report]].concat());
        assert_clean_exit(&output, 1, report);
        assert!(stderr(&output).contains(expected), "{report}: {}", stderr(&output));
        assert_eq!(std::fs::read(&out).expect("readable"), b"the previous output", "{report}");
    }
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("listable")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into())
        .collect();
    names.sort();
    assert_eq!(names, ["h.npy", "params.safetensors", "x.npy"], "no temporary file is left");
}

#[test]
fn no_output_may_be_an_input_or_another_output() {
    let dir = workdir("clobber");
    let (params, x_path) = indrnn_data(&dir);
    let x = format!("x={x_path}");
    let dh = dir.join("dh.npy");
    std::fs::copy(&x_path, &dh).expect("copyable");
    let dout = format!("h={}", text(&dh));
    let source = dir.join("cell.rnn");
    std::fs::write(&source, rnnc_stdlib::get("indrnn").expect("shipped").source).expect("writable");
    let (h, report) = (text(&dir.join("h.npy")), text(&dir.join("r.json")));
    let same_h = format!("{}/./h.npy", text(&dir));
    let linked = dir.join("linked.npy");
    std::fs::hard_link(&x_path, &linked).expect("linkable");
    let linked = text(&linked);
    let before: Vec<Vec<u8>> =
        [&params, &x_path, &text(&dh), &text(&source)].iter().map(|p| std::fs::read(p).expect("readable")).collect();
    let src = text(&source);
    let run = ["run", &src, "--backend", "cpu", "--params", &params, "--input", &x];
    let grad = ["grad", &src, "--backend", "cpu", "--params", &params, "--input", &x, "--dout", &dout];
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["--out", &h, "--report", &same_h], format!("`--out {h}` and `--report {same_h}` name the same file")),
        (vec!["--out", &x_path], format!("`--out {x_path}` is the input `--input x={x_path}`")),
        (vec!["--out", &params], format!("is the input `--params {params}`")),
        (vec!["--out", &h, "--report", &src], format!("`--report {src}` is the input `{src}`")),
        (vec!["--out", &linked], "is the input `--input x=".to_owned()),
    ];
    for (outputs, expected) in &cases {
        let output = rnnc(&[&run[..], outputs].concat());
        assert_clean_exit(&output, 2, &outputs.join(" "));
        assert!(stderr(&output).contains(expected.as_str()), "{outputs:?}: {}", stderr(&output));
    }
    let output = rnnc(&[&grad[..], &["--out", &text(&dh)]].concat());
    assert_clean_exit(&output, 2, "grad over its dout");
    assert!(stderr(&output).contains("is the input `--dout h="), "{}", stderr(&output));
    let output = rnnc(&["compile", &src, "--emit", "ir", "-o", &src]);
    assert_clean_exit(&output, 2, "compile over its source");
    let after: Vec<Vec<u8>> =
        [&params, &x_path, &text(&dh), &text(&source)].iter().map(|p| std::fs::read(p).expect("readable")).collect();
    assert!(before == after, "an input changed");
    assert!(!dir.join("h.npy").exists() && !dir.join("r.json").exists());
    // The same command with distinct outputs succeeds.
    let gradients = text(&dir.join("g.safetensors"));
    let output = rnnc(&[&grad[..], &["--out", &gradients, "--report", &report]].concat());
    assert_clean_exit(&output, 0, "grad");
    assert!(dir.join("g.safetensors").exists() && dir.join("r.json").exists());
}

// ---- 8: non-finite results ----

/// Cells whose results overflow or are undefined from the first steps on.
const NON_FINITE_CELLS: [(&str, &str); 4] = [
    ("div", "cell c { dim H; input x: [H]; state h: [H]; h' = 1 / (h - h) + x; output h; }"),
    ("log", "cell c { dim H; input x: [H]; state h: [H]; h' = log(h - 1) + x; output h; }"),
    ("exp", "cell c { dim H; input x: [H]; state h: [H]; h' = exp(exp(h + x)); output h; }"),
    // Issue 14's: `log(h)` from the zero initial state is -inf at the first step.
    ("log_zero", "cell c { dim H; input x: [H]; state h: [H]; h' = log(h) + x; output h; }"),
];

/// Writes `cell` as `NAME.rnn`, an empty parameter file and an input x [2, 16, 4].
fn non_finite_data(dir: &Path, name: &str, cell: &str) -> (String, String, String) {
    let source = dir.join(format!("{name}.rnn"));
    std::fs::write(&source, cell).expect("writable");
    let params = dir.join("empty.safetensors");
    write_safetensors(&params, []).expect("writable");
    let x = dir.join("x.npy");
    let values = (0..128).map(|i| (i as f32 * 0.37).sin() * 0.5).collect();
    write_npy(&x, &rnnc::Tensor::new(vec![2, 16, 4], values).expect("shape")).expect("writable");
    (text(&source), text(&params), format!("x={}", text(&x)))
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("a report")).expect("JSON")
}

#[test]
fn non_finite_outputs_are_counted_named_and_refused_with_strict() {
    let dir = workdir("non-finite");
    for (name, cell) in NON_FINITE_CELLS {
        let (source, params, x) = non_finite_data(&dir, name, cell);
        let (out, json) = (dir.join(format!("{name}.npy")), dir.join(format!("{name}.json")));
        let (out_text, json_text) = (text(&out), text(&json));
        let args = ["run", &source, "--backend", "cpu", "--params", &params, "--input", &x];
        let args = [&args[..], &["--out", &out_text, "--report", &json_text]].concat();
        for method in ["sequential", "newton"] {
            let output = rnnc(&[&args[..], &["--method", method]].concat());
            assert_clean_exit(&output, 0, name);
            assert!(stderr(&output).contains("output value(s) are not finite"), "{name}: {}", stderr(&output));
            let report = report(&json);
            assert_eq!(report["converged"], false, "{name}: {report}");
            assert!(report["non_finite"]["count"].as_u64().is_some_and(|n| n > 0), "{name}: {report}");
            assert_eq!(report["non_finite"]["first"]["output"], "h", "{name}: {report}");
            assert!(report["non_finite"]["first"]["step"].is_u64(), "{name}: {report}");
            if name == "log_zero" {
                let first = &report["non_finite"]["first"];
                assert_eq!((&first["batch"], &first["step"], &first["value"]), (&0.into(), &0.into(), &"-inf".into()));
            }
        }
        std::fs::remove_file(&out).expect("written");
        std::fs::remove_file(&json).expect("written");
        let output = rnnc(&[&args[..], &["--strict"]].concat());
        assert_clean_exit(&output, 1, name);
        assert!(stderr(&output).contains("nothing was written (--strict)"), "{name}: {}", stderr(&output));
        assert!(!out.exists() && !json.exists(), "{name}: --strict wrote a file");
    }
    // A shipped cell driven out of range by its parameters: indrnn with u = 1e30.
    let (params, x) = indrnn_data(&dir);
    let mut tensors = rnnc::runtime::data::read_safetensors(Path::new(&params)).expect("readable");
    tensors.insert("u".into(), rnnc::Tensor::filled(vec![4], 1e30).expect("small"));
    write_safetensors(Path::new(&params), tensors.iter().map(|(n, t)| (n.as_str(), t))).expect("writable");
    let json = dir.join("indrnn.json");
    let x = format!("x={x}");
    let out = text(&dir.join("indrnn.npy"));
    let args = ["run", "stdlib:indrnn", "--backend", "cpu", "--params", &params, "--input", &x, "--out", &out];
    let output = rnnc(&[&args[..], &["--report", &text(&json)]].concat());
    assert_clean_exit(&output, 0, "indrnn with u = 1e30");
    assert!(report(&json)["non_finite"]["count"].as_u64().is_some_and(|n| n > 0), "{}", report(&json));
    // Finite results report zero.
    let (params, x) = indrnn_data(&dir);
    let x = format!("x={x}");
    let output = rnnc(
        &[
            &["run", "stdlib:indrnn", "--backend", "cpu", "--params", &params, "--input", &x, "--out", &out][..],
            &["--report", &text(&json), "--strict"],
        ]
        .concat(),
    );
    assert_clean_exit(&output, 0, "finite");
    assert_eq!(report(&json)["non_finite"], serde_json::json!({ "count": 0, "first": null }));
    assert_eq!(report(&json)["converged"], true);
}

#[test]
fn non_finite_gradients_are_reported_and_refused_with_strict() {
    let dir = workdir("non-finite-grad");
    let (source, params, x) = non_finite_data(&dir, "log", NON_FINITE_CELLS[1].1);
    let dout = format!("h={}", &x[2..]);
    let (out, json) = (dir.join("g.safetensors"), dir.join("r.json"));
    let (out_text, json_text) = (text(&out), text(&json));
    let args = ["grad", &source, "--backend", "cpu", "--params", &params, "--input", &x, "--dout", &dout];
    let args = [&args[..], &["--out", &out_text, "--report", &json_text]].concat();
    let output = rnnc(&args);
    assert_clean_exit(&output, 0, "grad of log(h - 1)");
    assert!(stderr(&output).contains("gradient value(s) are not finite"), "{}", stderr(&output));
    let report = report(&json);
    assert!(report["non_finite_gradients"]["count"].as_u64().is_some_and(|n| n > 0), "{report}");
    assert!(report["non_finite_gradients"]["first"]["tensor"].is_string(), "{report}");
    std::fs::remove_file(&out).expect("written");
    std::fs::remove_file(&json).expect("written");
    let output = rnnc(&[&args[..], &["--strict"]].concat());
    assert_clean_exit(&output, 1, "grad --strict");
    assert!(!out.exists() && !json.exists());
}

#[test]
fn bench_reports_a_nan_difference_never_zero() {
    let dir = workdir("bench-nan");
    let (source, _, _) = non_finite_data(&dir, "log", NON_FINITE_CELLS[1].1);
    let output =
        rnnc(&["bench", &source, "--backend", "cpu", "--dims", "H=4", "--batch", "2", "--seq", "16", "--json"]);
    assert_clean_exit(&output, 0, "bench of log(h - 1)");
    for line in stdout(&output).lines() {
        let json: serde_json::Value = serde_json::from_str(line).expect("JSON");
        assert_eq!(json["max_abs_diff_vs_sequential"], serde_json::Value::Null, "{json}");
        assert_eq!(json["non_finite_outputs"], 128, "{json}");
    }
    let output = rnnc(&["bench", &source, "--backend", "cpu", "--dims", "H=4", "--batch", "2", "--seq", "16"]);
    assert_clean_exit(&output, 0, "bench table");
    let table = stdout(&output);
    assert_eq!(table.lines().filter(|line| line.trim_end().ends_with("NaN")).count(), 3, "{table}");
    assert!(stderr(&output).contains("output value(s) are not finite"), "{}", stderr(&output));
}

/// The GPU (lavapipe in CI) and the CPU report a non-finite run the same way
/// (the same count of non-finite values and the same first one), and compute the
/// same values by IEEE's rules: NaN where the other has NaN, the same infinities.
#[test]
fn cpu_and_gpu_report_non_finite_results_alike() {
    let dir = workdir("non-finite-backends");
    for (name, cell) in NON_FINITE_CELLS {
        let (source, params, x) = non_finite_data(&dir, name, cell);
        let (mut reports, mut values) = (Vec::new(), Vec::new());
        for backend in ["cpu", "gpu"] {
            let (out, json) = (dir.join(format!("{name}-{backend}.npy")), dir.join(format!("{name}-{backend}.json")));
            let output = rnnc(&[
                "run",
                &source,
                "--backend",
                backend,
                "--method",
                "sequential",
                "--params",
                &params,
                "--input",
                &x,
                "--out",
                &text(&out),
                "--report",
                &text(&json),
            ]);
            assert_clean_exit(&output, 0, &format!("{name} on {backend}"));
            reports.push(report(&json)["non_finite"].clone());
            values.push(rnnc::runtime::data::read_npy(&out).expect("written").data().to_vec());
        }
        assert_eq!(reports[0], reports[1], "{name}: CPU and GPU disagree");
        // Finite values to 1e-3: exp(exp(y)) multiplies the two back ends'
        // last-place differences by |exp(y)| (about 86 here, 1.1e-4 seen).
        let same = |a: f32, b: f32| {
            (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-3 * a.abs().max(b.abs()).max(1.0)
        };
        let differing = values[0].iter().zip(&values[1]).filter(|&(&a, &b)| !same(a, b)).count();
        let first = values[0].iter().zip(&values[1]).position(|(&a, &b)| !same(a, b));
        let shown = first.map(|i| (i, values[0][i], values[1][i]));
        assert_eq!(differing, 0, "{name}: CPU and GPU values differ in {differing} places, first {shown:?}");
    }
}

// ---- 13: a cell must be runnable if it checks ----

#[test]
fn a_cell_without_input_is_refused_by_check() {
    let dir = workdir("no-input");
    let path = dir.join("autonomous.rnn");
    std::fs::write(&path, "cell c { dim H; state h: [H]; param a: [H]; h' = tanh(a * h); output h; }\n")
        .expect("writable");
    for command in ["check", "inspect"] {
        let output = rnnc(&[command, &text(&path)]);
        assert_clean_exit(&output, 1, command);
        let err = stderr(&output);
        assert!(err.starts_with("error: cell `c` has no input\n") && err.contains("autonomous.rnn:1:6"), "{err}");
        assert!(err.contains("help: add `input NAME: [DIM];`"), "{err}");
    }
}

// ---- 11: no quadratic pass ----

/// 20,000 `let`s and a 20,000-term sum through every back end outside
/// `backend/wgsl` within seconds (the WGSL path is quadratic inside naga's WGSL
/// front end, which `backend::wgsl::validate` runs: see docs/RELIABILITY.md).
#[test]
fn twenty_thousand_lets_and_terms_compile_on_every_emit_in_linear_time() {
    let dir = workdir("large-cells");
    let n = 20_000;
    let mut lets = String::from("cell c {\n  dim H;\n  input x: [H];\n  state h: [H];\n  let a0 = h + x;\n");
    for i in 1..n {
        lets.push_str(&format!("  let a{i} = a{} * 0.5 + x;\n", i - 1));
    }
    lets.push_str(&format!("  h' = tanh(a{});\n  output h;\n}}\n", n - 1));
    let terms: Vec<String> =
        (0..n).map(|i| if i % 2 == 1 { format!("{} * h", i % 7 + 1) } else { "x".into() }).collect();
    let sum = format!(
        "cell c {{\n  dim H;\n  input x: [H];\n  state h: [H];\n  h' = tanh({});\n  output h;\n}}\n",
        terms.join(" + ")
    );
    for (name, source) in [("lets", lets), ("sum", sum)] {
        let path = dir.join(format!("{name}.rnn"));
        std::fs::write(&path, source).expect("writable");
        // The kernels take longer (naga parses and validates megabytes of WGSL,
        // twice for SPIR-V: 3.5 s and 7.3 s for the lets on an idle 2-core
        // machine), but linearly: a quadratic pass took over 60 s at 10,000 lets.
        for (emit, limit) in [("ir", 5), ("jacobian", 5), ("clif", 5), ("wgsl", 30), ("spirv", 30)] {
            let start = Instant::now();
            let output = rnnc(&["compile", &text(&path), "--emit", emit, "--dims", "H=4"]);
            let elapsed = start.elapsed();
            assert_clean_exit(&output, 0, &format!("{name} --emit {emit}"));
            assert!(output.stdout.len() > 100_000, "{name} --emit {emit}");
            assert!(elapsed < Duration::from_secs(limit), "{name} --emit {emit} took {elapsed:?}");
        }
    }
}

#[cfg(unix)]
#[test]
fn outputs_go_through_links_and_into_devices_without_replacing_them() {
    use std::os::unix::fs::FileTypeExt;
    let dir = workdir("links");
    let (params, x) = indrnn_data(&dir);
    let x = format!("x={x}");
    let target = dir.join("target.npy");
    std::fs::write(&target, b"old").expect("writable");
    let link = dir.join("h.npy");
    std::os::unix::fs::symlink(&target, &link).expect("linkable");
    let args = ["run", "stdlib:indrnn", "--backend", "cpu", "--params", &params, "--input", &x];
    let output = rnnc(&[&args[..], &["--out", &text(&link), "--report", "/dev/null"]].concat());
    assert_clean_exit(&output, 0, "through a link, report to /dev/null");
    assert!(std::fs::symlink_metadata(&link).expect("there").file_type().is_symlink());
    assert!(rnnc::runtime::data::read_npy(&target).is_ok(), "the link's target holds the output");
    assert!(std::fs::metadata("/dev/null").expect("there").file_type().is_char_device());
}

/// `println!` and `eprintln!` panic when their stream is gone (`| head`,
/// `2>/dev/full`): the command line writes only through `commands::stdio`.
#[test]
fn the_command_line_never_uses_panicking_print_macros() {
    let mut offenders = Vec::new();
    let mut folders = vec![root().join("src")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("listable") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let source = std::fs::read_to_string(&path).expect("readable");
                for (number, line) in source.lines().enumerate() {
                    let code = line.trim_start();
                    let printing = ["println!(", "eprintln!(", "print!(", "eprint!("].iter().any(|m| {
                        code.match_indices(m).any(|(at, _)| at == 0 || !code.as_bytes()[at - 1].is_ascii_alphanumeric())
                    });
                    if printing && !code.starts_with("//") {
                        offenders.push(format!("{}:{}: {code}", path.display(), number + 1));
                    }
                }
            }
        }
    }
    assert!(offenders.is_empty(), "use outln!/errln! (src/commands/stdio.rs):\n{}", offenders.join("\n"));
}
