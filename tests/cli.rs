//! End-to-end behaviour of the `rnnc` command line: exit statuses, stdlib cells,
//! `inspect` output, dims binding, and inputs that must not crash or hang it.

mod support;

use std::time::{Duration, Instant};

use support::{rnnc, stderr, stdout};

const STDLIB: [&str; 8] = ["block_elman", "elman", "gru", "indrnn", "lstm", "mingru", "para_gru", "para_lstm"];

fn temp_file(name: &str, contents: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rnnc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("temp file");
    path
}

#[test]
fn every_stdlib_cell_checks_clean_by_name_and_as_a_file() {
    for name in STDLIB {
        let by_name = rnnc(&["check", &format!("stdlib:{name}")]);
        assert_eq!(by_name.status.code(), Some(0), "{name}: {}", stderr(&by_name));
        assert_eq!(stdout(&by_name), format!("stdlib:{name}: ok ({name})\n"));
        let by_path = rnnc(&["check", &format!("stdlib/cells/{name}.rnn")]);
        assert_eq!(by_path.status.code(), Some(0), "{name}: {}", stderr(&by_path));
    }
}

#[test]
fn check_reports_every_file_and_fails_if_any_fails() {
    let output =
        rnnc(&["check", "tests/diagnostics/unknown_name.rnn", "stdlib:gru", "tests/diagnostics/unknown_dim.rnn"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("tests/diagnostics/unknown_name.rnn:4:20"), "{err}");
    assert!(err.contains("tests/diagnostics/unknown_dim.rnn:3:15"), "{err}");
    assert_eq!(stdout(&output), "stdlib:gru: ok (gru)\n");
}

#[test]
fn usage_errors_exit_with_status_2_and_help_with_0() {
    for args in [
        &["check"][..],
        &["frobnicate"],
        &["inspect", "stdlib:gru", "--json", "--bogus"],
        &["check", "stdlib:gru", "--dims", "H"],
    ] {
        let output = rnnc(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
    }
    assert_eq!(rnnc(&["--help"]).status.code(), Some(0));
    assert_eq!(rnnc(&["check", "--help"]).status.code(), Some(0));
}

#[test]
fn a_missing_file_or_stdlib_cell_is_a_clear_error() {
    let output = rnnc(&["check", "no/such/file.rnn"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).starts_with("error: cannot read `no/such/file.rnn`"), "{}", stderr(&output));
    let output = rnnc(&["check", "stdlib:nope"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("no shipped cell is called `nope`"), "{}", stderr(&output));
}

#[test]
fn inspect_json_has_the_contract_fields() {
    let output = rnnc(&["inspect", "stdlib:para_lstm", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    assert_eq!(json["cell"], "para_lstm");
    assert_eq!(json["dims"][0]["name"], "H");
    assert_eq!(json["inputs"], serde_json::json!([{ "name": "x", "shape": ["D"] }]));
    assert_eq!(json["states"][0], serde_json::json!({ "name": "c", "shape": ["H"] }));
    assert_eq!(json["states"][1], serde_json::json!({ "name": "h", "shape": ["H"] }));
    assert_eq!(json["params"][0], serde_json::json!({ "name": "Bf", "shape": ["H", "D"] }));
    assert_eq!(json["params"].as_array().map(Vec::len), Some(11));
    assert_eq!(json["outputs"][0]["name"], "h");
    assert_eq!(json["outputs"][0]["shape"], serde_json::json!(["H"]));
    assert_eq!(json["linear"], false);
    assert_eq!(json["linear_states"], serde_json::json!([]));
}

#[test]
fn inspect_says_whether_a_cell_is_linear() {
    let output = rnnc(&["inspect", "stdlib:minlstm", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    assert_eq!(json["linear"], true);
    assert_eq!(json["linear_states"], serde_json::json!(["h"]));
    let text = stdout(&rnnc(&["inspect", "stdlib:minlstm"]));
    assert!(text.contains("linear   in every state: solved by one scan"), "{text}");
}

#[test]
fn inspect_shows_block_params_and_bound_dims() {
    let output = rnnc(&["inspect", "stdlib:block_elman", "--json", "--dims", "H=8,D=3"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    assert_eq!(json["dims"][0]["size"], 8);
    let u = &json["params"][1];
    assert_eq!((u["name"].as_str(), u["block"].as_u64()), (Some("U"), Some(4)));
    assert_eq!(u["stored_shape"], serde_json::json!(["H/4", 4, 4]));
    let text = stdout(&rnnc(&["inspect", "stdlib:block_elman", "--dims", "H=8,D=3"]));
    assert!(text.contains("params   W: [H, D], U: block[H, 4], b: [H]"), "{text}");
    assert!(text.contains("dims     H = 8, D = 3"), "{text}");
}

/// With bound dims, `inspect` says what each back end makes of the cell: the
/// GPU's lanes and methods, or why it cannot run it (located), and the CPU's
/// methods; without dims it says nothing of them.
#[test]
fn inspect_with_dims_says_what_each_back_end_does() {
    let json = |args: &[&str]| -> serde_json::Value {
        let output = rnnc(args);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        serde_json::from_slice(&output.stdout).expect("valid JSON")
    };
    let gru = json(&["inspect", "stdlib:para_gru", "--json", "--dims", "H=1024,D=1024"])["backends"].clone();
    assert_eq!(gru["gpu"]["runs"], true, "{gru}");
    assert_eq!((gru["gpu"]["lanes"].as_u64(), gru["gpu"]["unknowns"].as_u64()), (Some(1024), Some(1)), "{gru}");
    assert_eq!(gru["gpu"]["whole"], serde_json::Value::Null);
    assert_eq!(gru["gpu"]["methods"], serde_json::json!(["newton", "sequential"]));
    assert_eq!(gru["cpu"]["methods"], serde_json::json!(["newton", "sequential"]));

    let linear = json(&["inspect", "stdlib:minlstm", "--json", "--dims", "H=64,D=64"])["backends"].clone();
    assert_eq!(linear["gpu"]["methods"], serde_json::json!(["scan", "sequential"]), "{linear}");
    let small_dense = json(&["inspect", "stdlib:gru", "--json", "--dims", "H=8,D=8"])["backends"].clone();
    assert_eq!(small_dense["gpu"]["whole"], "the Jacobian is dense", "{small_dense}");
    assert_eq!((small_dense["gpu"]["lanes"].as_u64(), small_dense["gpu"]["unknowns"].as_u64()), (Some(1), Some(8)));

    let wide = json(&["inspect", "stdlib:gru", "--json", "--dims", "H=256,D=256"])["backends"].clone();
    assert_eq!(wide["gpu"]["runs"], false, "{wide}");
    let reason = wide["gpu"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("one thread a sequence would hold every state"), "{reason}");
    assert_eq!(wide["cpu"]["methods"], serde_json::json!(["sequential"]), "{wide}");
    assert!(wide["cpu"]["no_newton"].as_str().is_some_and(|why| why.contains("Newton solves on the CPU")));
    let text = stdout(&rnnc(&["inspect", "stdlib:gru", "--dims", "H=256,D=256"]));
    assert!(text.contains("gpu      does not run it (stdlib:gru:21:39): the wgsl back end cannot compile"), "{text}");
    assert!(text.contains("without --backend the CPU runs the cell\ncpu      sequential (no Newton: "), "{text}");

    assert_eq!(json(&["inspect", "stdlib:para_gru", "--json"])["backends"], serde_json::Value::Null);
    assert!(!stdout(&rnnc(&["inspect", "stdlib:para_gru"])).contains("gpu "));
}

#[test]
fn binding_dims_checks_block_sizes_and_names() {
    let output = rnnc(&["check", "stdlib:block_elman", "--dims", "H=6,D=3"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("the block size 4 of `U` does not divide H = 6"), "{err}");
    assert!(err.contains("stdlib:block_elman:13:11"), "{err}");
    let output = rnnc(&["check", "stdlib:block_elman", "--dims", "H=8"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("dim `D` has no size"), "{}", stderr(&output));
    let output = rnnc(&["check", "stdlib:block_elman", "--dims", "H=8,D=3,Q=2"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("has no dim `Q`"), "{}", stderr(&output));
}

#[test]
fn several_cells_need_a_choice() {
    let path = temp_file(
        "two.rnn",
        b"cell a { dim H; input x: [H]; state h: [H]; h' = h + x; output h; }\n\
          cell b { dim H; input x: [H]; state h: [H]; h' = -h + x; output h; }\n",
    );
    let path = path.to_string_lossy().into_owned();
    let output = rnnc(&["inspect", &path]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("defines several cells (a, b)"), "{}", stderr(&output));
    let output = rnnc(&["inspect", &path, "--cell", "b"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).starts_with("cell b\n"));
    assert_eq!(rnnc(&["inspect", &path, "--cell", "c"]).status.code(), Some(2));
}

#[test]
fn a_20000_deep_expression_is_a_located_error_within_a_second() {
    let depth = 20_000;
    let source = format!(
        "cell c {{\n  dim H;\n  state h: [H];\n  h' = {}h{};\n  output h;\n}}\n",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    let path = temp_file("deep.rnn", source.as_bytes());
    let start = Instant::now();
    let output = rnnc(&["check", &path.to_string_lossy()]);
    let elapsed = start.elapsed();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("expression nested more than 64 levels deep"), "{err}");
    assert!(err.contains("deep.rnn:4:72"), "{err}");
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}

#[test]
fn deep_calls_and_negations_and_long_chains_are_handled() {
    let calls = format!(
        "cell c {{ dim H; input x: [H]; state h: [H]; h' = {}h{} + x; output h; }}",
        "tanh(".repeat(64),
        ")".repeat(64)
    );
    let output = rnnc(&["check", &temp_file("calls.rnn", calls.as_bytes()).to_string_lossy()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let negs = format!("cell c {{ dim H; input x: [H]; state h: [H]; h' = x + {}h; output h; }}", "-".repeat(100_000));
    let output = rnnc(&["check", &temp_file("negs.rnn", negs.as_bytes()).to_string_lossy()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let chain =
        format!("cell c {{ dim H; input x: [H]; state h: [H]; h' = x + h{}; output h; }}", " * h + h".repeat(100_000));
    let output = rnnc(&["check", &temp_file("chain.rnn", chain.as_bytes()).to_string_lossy()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn the_readme_first_cell_checks_clean() {
    let readme = std::fs::read_to_string(support::root().join("README.md")).expect("README.md");
    let start = readme.find("cell my_rnn {").expect("the README shows a first cell");
    let end = start + readme[start..].find("\n}\n").expect("the cell ends") + 3;
    let path = temp_file("my_rnn.rnn", &readme.as_bytes()[start..end]);
    let output = rnnc(&["check", &path.to_string_lossy()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn inspect_reports_the_proved_jacobian_structure_of_every_stdlib_cell() {
    let expected = [
        ("para_gru", "diagonal", Some(1)),
        ("indrnn", "diagonal", Some(1)),
        ("mingru", "diagonal", Some(1)),
        ("mamba_ssm", "diagonal", Some(1)),
        ("para_lstm", "block-diagonal", Some(2)),
        ("block_elman", "block-diagonal", Some(4)),
        ("gru", "dense", None),
        ("lstm", "dense", None),
        ("elman", "dense", None),
    ];
    for (name, structure, block) in expected {
        let output = rnnc(&["inspect", &format!("stdlib:{name}"), "--json"]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
        assert_eq!(json["jacobian"]["structure"], structure, "{name}");
        assert_eq!(json["jacobian"]["block"].as_u64(), block, "{name}");
    }
}

#[test]
fn compile_emits_ir_derivatives_wgsl_and_spirv() {
    let ir = rnnc(&["compile", "stdlib:para_gru", "--emit", "ir"]);
    assert_eq!(ir.status.code(), Some(0), "{}", stderr(&ir));
    assert!(stdout(&ir).contains("h' = v"), "{}", stdout(&ir));
    let jacobian = rnnc(&["compile", "stdlib:para_lstm", "--emit", "jacobian"]);
    assert!(stdout(&jacobian).contains("; structure: block-diagonal 2"), "{}", stdout(&jacobian));
    let wgsl = rnnc(&["compile", "stdlib:block_elman", "--emit", "wgsl", "--dims", "H=8,D=3"]);
    assert_eq!(wgsl.status.code(), Some(0), "{}", stderr(&wgsl));
    assert!(stdout(&wgsl).contains("fn newton(") && stdout(&wgsl).contains("for H = 8, D = 3"));
    let path = temp_file("gru.spv", b"");
    let spirv = rnnc(&["compile", "stdlib:gru", "--emit", "spirv", "-o", &path.to_string_lossy()]);
    assert_eq!(spirv.status.code(), Some(0), "{}", stderr(&spirv));
    let bytes = std::fs::read(&path).expect("written");
    assert_eq!(&bytes[..4], &0x0723_0203u32.to_le_bytes(), "SPIR-V magic number");
}
