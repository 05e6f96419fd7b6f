//! `rnnc run` and `rnnc bench` end to end: data files in, outputs and a report out;
//! bad data rejected before any work, naming the tensor, with nothing written.

mod support;

use std::path::{Path, PathBuf};

use rnnc::Tensor;
use rnnc::runtime::data::random::{random_inputs, random_params};
use rnnc::runtime::data::{read_npy, write_npy, write_safetensors};
use support::{rnnc, stderr, stdout};

fn workdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rnnc-run-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Random parameters and input for `stdlib:CELL` with `dims`, written to `dir`.
fn write_data(dir: &Path, cell: &str, dims: &[(&str, u64)], batch: usize, steps: usize) {
    let source = rnnc_stdlib::get(cell).expect("shipped").source;
    let cell = rnnc::compiler::check_source(source).expect("checks").remove(0);
    let sizes = cell.bind_dims(|n| dims.iter().find(|(d, _)| *d == n).map(|&(_, s)| s)).expect("binds");
    let params = random_params(&cell, &sizes, 1).expect("params");
    write_safetensors(&dir.join("params.safetensors"), params.iter().map(|(n, t)| (n.as_str(), t))).expect("writes");
    for (name, tensor) in random_inputs(&cell, &sizes, batch, steps, 2).expect("inputs") {
        write_npy(&dir.join(format!("{name}.npy")), &tensor).expect("writes");
    }
}

fn path(dir: &Path, file: &str) -> String {
    dir.join(file).to_string_lossy().into_owned()
}

#[test]
fn run_writes_outputs_and_a_report() {
    let dir = workdir("ok");
    write_data(&dir, "para_lstm", &[("H", 8), ("D", 3)], 2, 50);
    let out = path(&dir, "h.npy");
    let report = path(&dir, "report.json");
    let params = path(&dir, "params.safetensors");
    let x = format!("x={}", path(&dir, "x.npy"));
    for method in ["newton", "sequential", "auto"] {
        let output = rnnc(&[
            "run",
            "stdlib:para_lstm",
            "--params",
            &params,
            "--input",
            &x,
            "--out",
            &out,
            "--method",
            method,
            "--report",
            &report,
        ]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let h = read_npy(Path::new(&out)).expect("an output");
        assert_eq!(h.shape(), &[2, 50, 8]);
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("JSON");
        for key in ["backend", "device", "method", "iterations", "converged", "residual", "time_ms"] {
            assert!(json.get(key).is_some(), "report lacks {key}: {json}");
        }
        assert_eq!(json["backend"], "gpu");
        assert_eq!(json["converged"], true);
        if method != "auto" {
            assert_eq!(json["method"], method);
        }
    }
}

#[test]
fn bad_data_is_rejected_naming_the_tensor_and_nothing_is_written() {
    let dir = workdir("bad");
    write_data(&dir, "para_gru", &[("H", 8), ("D", 3)], 2, 20);
    let params = path(&dir, "params.safetensors");
    let out = path(&dir, "h.npy");
    let x = format!("x={}", path(&dir, "x.npy"));
    // An input of the wrong width: D is 3 in the parameters.
    write_npy(&dir.join("x4.npy"), &Tensor::new(vec![2, 20, 4], vec![0.0; 160]).expect("tensor")).expect("writes");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![format!("x={}", path(&dir, "x4.npy"))], "input `x` has shape [2, 20, 4], expected [2, 20, 3]"),
        (vec![format!("y={}", path(&dir, "x.npy"))], "`y`"),
        (vec![x.clone(), format!("--init=h={}", path(&dir, "x.npy"))], "initial state `h`"),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["run", "stdlib:para_gru", "--params", &params, "--out", &out];
        for e in &extra {
            if e.starts_with("--") {
                args.push(e);
            } else {
                args.push("--input");
                args.push(e);
            }
        }
        let output = rnnc(&args);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains(expected), "{args:?}: {}", stderr(&output));
        assert!(!Path::new(&out).exists(), "{out} was written");
    }
    // A params file missing a parameter, and a non-float32 input.
    let source = rnnc_stdlib::get("para_gru").expect("shipped").source;
    let cell = rnnc::compiler::check_source(source).expect("checks").remove(0);
    let sizes = cell.bind_dims(|n| if n == "H" { Some(8) } else { Some(3) }).expect("binds");
    let mut partial = random_params(&cell, &sizes, 1).expect("params");
    partial.remove("bz");
    let partial_path = path(&dir, "partial.safetensors");
    write_safetensors(Path::new(&partial_path), partial.iter().map(|(n, t)| (n.as_str(), t))).expect("writes");
    let output = rnnc(&["run", "stdlib:para_gru", "--params", &partial_path, "--input", &x, "--out", &out]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("`bz`"), "{}", stderr(&output));
    let mut f64_npy = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 20, 3), }";
    let padded = format!("{header:<117}\n");
    f64_npy.extend_from_slice(&(padded.len() as u16).to_le_bytes());
    f64_npy.extend_from_slice(padded.as_bytes());
    f64_npy.extend_from_slice(&[0u8; 2 * 20 * 3 * 8]);
    std::fs::write(dir.join("x64.npy"), f64_npy).expect("writes");
    let x64 = format!("x={}", path(&dir, "x64.npy"));
    let output = rnnc(&["run", "stdlib:para_gru", "--params", &params, "--input", &x64, "--out", &out]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("<f8"), "{}", stderr(&output));
    assert!(!Path::new(&out).exists());
}

#[test]
fn bench_compares_the_methods() {
    let output = rnnc(&[
        "bench",
        "stdlib:para_gru",
        "--dims",
        "H=16,D=8",
        "--batch",
        "2",
        "--seq",
        "300",
        "--repeat",
        "1",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let lines: Vec<serde_json::Value> =
        stdout(&output).lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["requested"], "auto");
    assert_eq!((lines[0]["method"].as_str(), lines[1]["method"].as_str()), (Some("sequential"), Some("newton")));
    assert!(lines[1]["max_abs_diff_vs_first"].as_f64().expect("a number") < 1e-4);
    for line in &lines {
        let (min, median, max) = (line["time_ms_min"].as_f64(), line["time_ms"].as_f64(), line["time_ms_max"].as_f64());
        assert!(min <= median && median <= max && min.is_some(), "{line}");
        assert!(["gpu-timestamps", "wall-clock"].contains(&line["timing"].as_str().unwrap_or("")), "{line}");
    }
}

/// Repeated calls of one shape reuse the resident workspace: after the warm-up
/// round, no run creates a device buffer (forwards, forward + backward through
/// the tape, and both with the data resident on the device).
#[test]
fn bench_rounds_allocate_nothing_after_the_first() {
    let modes: [&[&str]; 4] = [&[], &["--backward"], &["--resident"], &["--backward", "--resident"]];
    for mode in modes {
        let mut args =
            vec!["bench", "stdlib:para_lstm", "--dims", "H=8,D=4", "--batch", "2", "--seq", "64", "--repeat", "3"];
        args.extend(["--methods", "newton,sequential", "--json"]);
        args.extend(mode);
        let output = rnnc(&args);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        for line in stdout(&output).lines() {
            let line: serde_json::Value = serde_json::from_str(line).expect("JSON");
            assert_eq!(line["backend"], "gpu", "{line}");
            let allocations = line["device_allocations_per_round"].as_array().expect("counted on the GPU");
            assert_eq!(allocations.len(), 3, "{line}");
            assert!(allocations.iter().all(|n| n.as_u64() == Some(0)), "{mode:?}: {line}");
            assert_eq!(line["resident"], mode.contains(&"--resident"), "{line}");
            let backward = line["backward_ms"].as_f64();
            assert_eq!(backward.is_some_and(|ms| ms > 0.0), mode.contains(&"--backward"), "{mode:?}: {line}");
            assert!(line["converged"].as_bool() == Some(true) && line["time_ms"].as_f64() > Some(0.0), "{line}");
            assert_eq!(line["samples_ms"].as_array().map(Vec::len), Some(3), "{line}");
        }
    }
}

/// Without `--backend`, a machine with no GPU adapter runs on the CPU and says
/// so in one line; `--backend gpu` there is a clear error.
#[test]
fn without_a_gpu_the_cpu_runs_and_says_so() {
    let no_vulkan = [("VK_ICD_FILENAMES", "/nonexistent.json"), ("VK_DRIVER_FILES", "/nonexistent.json")];
    let args =
        ["bench", "stdlib:indrnn", "--dims", "H=8,D=4", "--batch", "1", "--seq", "16", "--repeat", "1", "--json"];
    let output = support::rnnc_with_env(&args, &no_vulkan);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let notes = stderr(&output).lines().filter(|l| l.contains("running on the CPU")).count();
    assert_eq!(notes, 1, "{}", stderr(&output));
    for line in stdout(&output).lines() {
        let line: serde_json::Value = serde_json::from_str(line).expect("JSON");
        assert_eq!(line["backend"], "cpu", "{line}");
    }
    let mut explicit = args.to_vec();
    explicit.extend(["--backend", "gpu"]);
    let output = support::rnnc_with_env(&explicit, &no_vulkan);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("no GPU adapter"), "{}", stderr(&output));
}

/// A cell the GPU back end cannot run (a dense GRU of 72 channels: one lane
/// wider than a GPU thread holds) runs on the CPU without `--backend`, the
/// report and stderr saying why; with `--backend gpu` it is an error at the
/// product that couples the state's channels. The outputs match the CPU back
/// end's own.
#[test]
fn a_cell_the_gpu_cannot_run_runs_on_the_cpu_under_auto() {
    let dir = workdir("fallback");
    write_data(&dir, "gru", &[("H", 72), ("D", 4)], 1, 6);
    let params = path(&dir, "params.safetensors");
    let x = format!("x={}", path(&dir, "x.npy"));
    let run = |backend: Option<&str>, out: &str| {
        let (out, report) = (path(&dir, out), path(&dir, &format!("{out}.json")));
        let mut args =
            vec!["run", "stdlib:gru", "--params", &params, "--input", &x, "--out", &out, "--report", &report];
        args.extend(backend.map(|b| ["--backend", b]).into_iter().flatten());
        let output = rnnc(&args);
        let json = std::fs::read_to_string(&report).ok().map(|text| {
            let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            json
        });
        (output, json, read_npy(Path::new(&out)).ok())
    };
    let (output, report, auto) = run(None, "auto.npy");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = report.expect("a report");
    assert_eq!(report["backend"], "cpu", "{report}");
    let why = report["backend_reason"].as_str().expect("a reason");
    assert!(why.contains("more than the GPU kernels hold in one thread") && why.contains("ran on the CPU"), "{why}");
    let text = stderr(&output);
    let notes: Vec<&str> = text.lines().filter(|l| l.starts_with("note: ")).collect();
    assert_eq!(notes, [format!("note: {why}")], "{text}");

    let (output, report, cpu) = run(Some("cpu"), "cpu.npy");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = report.expect("a report");
    assert!(report.get("backend_reason").is_none(), "{report}");
    assert_eq!(auto.expect("outputs").data(), cpu.expect("outputs").data());

    let (output, report, written) = run(Some("gpu"), "gpu.npy");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    let wanted = [
        "--> stdlib:gru:",
        "W_hr @ h",
        "this product couples every channel of the state",
        "state h: [H];",
        "one lane holds this state",
        "help: the CPU back end runs this cell",
    ];
    for wanted in wanted {
        assert!(text.contains(wanted), "{wanted:?} not in:\n{text}");
    }
    assert!(report.is_none() && written.is_none(), "nothing is written");
}

#[test]
fn the_cpu_backend_gives_the_gpu_backend_s_outputs_and_report_format() {
    let dir = workdir("cpu");
    write_data(&dir, "block_elman", &[("H", 8), ("D", 3)], 2, 40);
    let params = path(&dir, "params.safetensors");
    let x = format!("x={}", path(&dir, "x.npy"));
    let mut outputs = Vec::new();
    for backend in ["gpu", "cpu"] {
        let out = path(&dir, &format!("h_{backend}.npy"));
        let report = path(&dir, &format!("report_{backend}.json"));
        let output = rnnc(&[
            "run",
            "stdlib:block_elman",
            "--params",
            &params,
            "--input",
            &x,
            "--out",
            &out,
            "--backend",
            backend,
            "--method",
            "newton",
            "--report",
            &report,
        ]);
        assert_eq!(output.status.code(), Some(0), "{backend}: {}", stderr(&output));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("JSON");
        assert_eq!(json["backend"], backend);
        assert_eq!(json["method"], "newton");
        outputs.push(read_npy(Path::new(&out)).expect("an output"));
    }
    assert_eq!(outputs[0].shape(), outputs[1].shape());
    let difference = outputs[0].data().iter().zip(outputs[1].data()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(difference < 1e-5, "GPU and CPU differ by {difference}");
}

/// The report says what the outputs are made of: Newton capped at one
/// iteration on a nonlinear cell falls back in every segment (and stderr says
/// so in those words, `residual` 0 since no output is Newton's); on a linear
/// cell the same cap is met by one exact scan (`scan`, converged, no warning).
#[test]
fn reports_name_the_method_of_every_segment() {
    let dir = workdir("segments");
    for (cell, method, converged) in [("para_gru", "newton", false), ("minlstm", "scan", true)] {
        write_data(&dir, cell, &[("H", 8), ("D", 3)], 2, 40);
        let (params, x) = (path(&dir, "params.safetensors"), format!("x={}", path(&dir, "x.npy")));
        let (out, report) = (path(&dir, &format!("{cell}.npy")), path(&dir, &format!("{cell}.json")));
        let args = ["run", &format!("stdlib:{cell}"), "--backend", "cpu", "--params", &params, "--input", &x];
        let output = rnnc(
            &[&args[..], &["--out", &out, "--report", &report, "--method", "newton", "--max-iterations", "1"]].concat(),
        );
        assert_eq!(output.status.code(), Some(0), "{cell}: {}", stderr(&output));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("JSON");
        assert_eq!((json["method"].as_str(), json["converged"].as_bool()), (Some(method), Some(converged)), "{json}");
        let segments = json["segments"].as_u64().expect("segments");
        assert_eq!(json["residual"], 0.0, "{json}");
        assert_eq!(json["iterations"], 1, "{json}");
        // The cap is not a failure that damping answers: no damped iteration.
        assert_eq!(json["damped_iterations"], 0, "{json}");
        let warning = stderr(&output);
        if converged {
            assert_eq!(json["segment_methods"], serde_json::json!({ "newton": 0, "scan": segments, "sequential": 0 }));
            assert!(!warning.contains("warning"), "{warning}");
        } else {
            assert_eq!(json["fallback_segments"], segments, "{json}");
            assert_eq!(json["segment_methods"], serde_json::json!({ "newton": 0, "scan": 0, "sequential": segments }));
            let expected = format!(
                "fell back to sequential in {segments} of {segments} segments; outputs are the sequential method's"
            );
            assert!(warning.contains(&expected), "{warning}");
        }
    }
}

/// A matrix state end to end: `stdlib:mamba_ssm` takes its initial state as
/// `[B, D, N]` (a flat `[B, D * N]` one is refused, naming it, with nothing
/// written), and `rnnc grad` writes `init.h` and `param.A_log` with both axes.
#[test]
fn a_matrix_state_takes_and_gives_data_with_both_axes() {
    let dir = workdir("matrix");
    write_data(&dir, "mamba_ssm", &[("D", 3), ("N", 2)], 2, 7);
    let params = path(&dir, "params.safetensors");
    let x = format!("x={}", path(&dir, "x.npy"));
    write_npy(&dir.join("h0.npy"), &Tensor::new(vec![2, 3, 2], vec![0.25; 12]).expect("a tensor")).expect("writes");
    write_npy(&dir.join("flat.npy"), &Tensor::new(vec![2, 6], vec![0.25; 12]).expect("a tensor")).expect("writes");
    write_npy(&dir.join("dy.npy"), &Tensor::new(vec![2, 7, 3], vec![1.0; 42]).expect("a tensor")).expect("writes");
    let (out, grads) = (path(&dir, "y.npy"), path(&dir, "g.safetensors"));
    let h0 = format!("h={}", path(&dir, "h0.npy"));
    let run = |init: &str| {
        rnnc(&["run", "stdlib:mamba_ssm", "--params", &params, "--input", &x, "--init", init, "--out", &out])
    };
    let flat = run(&format!("h={}", path(&dir, "flat.npy")));
    assert_eq!(flat.status.code(), Some(1));
    assert!(stderr(&flat).contains("initial state `h`") && stderr(&flat).contains("[B, D, N]"), "{}", stderr(&flat));
    assert!(!Path::new(&out).exists(), "nothing is written on failure");
    let output = run(&h0);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(read_npy(Path::new(&out)).expect("an output").shape(), &[2, 7, 3]);
    let dy = format!("y={}", path(&dir, "dy.npy"));
    let args = ["grad", "stdlib:mamba_ssm", "--params", &params, "--input", &x, "--init", &h0, "--dout", &dy];
    let output = rnnc(&[&args[..], &["--out", &grads]].concat());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let gradients = rnnc::runtime::data::read_safetensors(Path::new(&grads)).expect("gradients");
    let shape = |key: &str| gradients.get(key).map(|t| t.shape().to_vec());
    assert_eq!(shape("init.h"), Some(vec![2, 3, 2]));
    assert_eq!(shape("param.A_log"), Some(vec![3, 2]));
}

/// `RNNC_PIPELINE_STATS=1` reports every kernel a run compiles, one line each
/// on stderr: the driver's statistics (`name = value` pairs; an NVIDIA H200
/// gives its register count, local and shared memory: docs/PERFORMANCE.md,
/// run 109), or why there are none (CI's lavapipe has no
/// `VK_KHR_pipeline_executable_properties`). The results are the same, and
/// without the variable nothing is reported.
#[test]
fn pipeline_statistics_are_reported_for_each_kernel() {
    let args = [
        "bench",
        "stdlib:para_gru",
        "--dims",
        "H=8,D=4",
        "--batch",
        "2",
        "--seq",
        "32",
        "--methods",
        "newton",
        "--repeat",
        "1",
        "--backend",
        "gpu",
        "--json",
    ];
    let plain = support::rnnc(&args);
    assert_eq!(plain.status.code(), Some(0), "{}", stderr(&plain));
    assert!(!stderr(&plain).contains("rnnc: pipeline "), "{}", stderr(&plain));
    let output = support::rnnc_with_env(&args, &[("RNNC_PIPELINE_STATS", "1")]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stderr(&output);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("rnnc: pipeline ")).collect();
    assert!(lines.iter().any(|l| l.contains("recurrence::newton: ")), "{text}");
    for line in &lines {
        let statistics = line.contains(" = ");
        let absent = line.contains("the driver has no VK_KHR_pipeline_executable_properties");
        assert!(statistics != absent, "{line}");
    }
    let report = |o: &std::process::Output| -> serde_json::Value {
        serde_json::from_str(stdout(o).lines().next().expect("a line")).expect("JSON")
    };
    let (with, without) = (report(&output), report(&plain));
    for key in ["method", "iterations", "converged", "residual"] {
        assert_eq!(with[key], without[key], "{key}: {with} against {without}");
    }
}
