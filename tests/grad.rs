//! `rnnc grad` end to end: data files and output cotangents in, one gradients
//! file out with the contract's keys and shapes, equal on both backends to the
//! float64 interpreter's backpropagation through time; bad cotangents rejected by
//! name with nothing written.

mod support;

use std::path::{Path, PathBuf};

use rnnc::runtime::data::random::{random_inputs, random_params, random_tensor};
use rnnc::runtime::data::{read_safetensors, write_npy, write_safetensors};
use rnnc::{Tensor, compiler};
use support::{rnnc, stderr};

fn workdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rnnc-grad-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn path(dir: &Path, file: &str) -> String {
    dir.join(file).to_string_lossy().into_owned()
}

/// `stdlib:para_lstm` with H = 8, D = 3, B = 2, T = 30: parameters, input,
/// initial states and the cotangent of `h`, written to `dir`; returned as tensors.
struct Data {
    params: std::collections::BTreeMap<String, Tensor>,
    x: Tensor,
    inits: Vec<(String, Tensor)>,
    dh: Tensor,
}

fn write_data(dir: &Path) -> Data {
    let source = rnnc_stdlib::get("para_lstm").expect("shipped").source;
    let cell = compiler::check_source(source).expect("checks").remove(0);
    let sizes = cell.bind_dims(|n| [("H", 8), ("D", 3)].iter().find(|(d, _)| *d == n).map(|&(_, s)| s)).expect("binds");
    let params = random_params(&cell, &sizes, 1).expect("params");
    write_safetensors(&dir.join("params.safetensors"), params.iter().map(|(n, t)| (n.as_str(), t))).expect("writes");
    let (_, x) = random_inputs(&cell, &sizes, 2, 30, 2).expect("inputs").remove(0);
    write_npy(&dir.join("x.npy"), &x).expect("writes");
    let mut inits = Vec::new();
    for (i, state) in ["c", "h"].into_iter().enumerate() {
        let tensor = random_tensor(vec![2, 8], -0.5, 0.5, 3 + i as u64).expect("init");
        write_npy(&dir.join(format!("{state}0.npy")), &tensor).expect("writes");
        inits.push((state.to_owned(), tensor));
    }
    let dh = random_tensor(vec![2, 30, 8], -1.0, 1.0, 5).expect("dout");
    write_npy(&dir.join("dh.npy"), &dh).expect("writes");
    Data { params, x, inits, dh }
}

/// The float64 gradients by backpropagation through time, keyed as in the file.
fn reference(data: &Data) -> Vec<(String, Vec<f64>)> {
    let source = rnnc_stdlib::get("para_lstm").expect("shipped").source;
    let cell = compiler::check_source(source).expect("checks").remove(0);
    let derived = compiler::derive_cell(&cell).expect("derives");
    let sizes = cell.bind_dims(|n| [("H", 8), ("D", 3)].iter().find(|(d, _)| *d == n).map(|&(_, s)| s)).expect("binds");
    let widen = |t: &Tensor| t.data().iter().map(|&v| f64::from(v)).collect::<Vec<f64>>();
    let params = compiler::interp::ParamValues::from_fn(&cell, &sizes, |p, i| {
        f64::from(data.params[&cell.params[p].name].data()[i])
    });
    let interp = derived.interpreter(&sizes, &params).expect("interpreter");
    let x = widen(&data.x);
    let inits: Vec<Vec<f64>> = data.inits.iter().map(|(_, t)| widen(t)).collect();
    let dh = widen(&data.dh);
    let sequences = compiler::interp::Sequences {
        batch: 2,
        steps: 30,
        inputs: &[&x],
        initial: &[Some(&inits[0]), Some(&inits[1])],
    };
    let gradients = interp.backward_sequence(&derived.derivatives, &sequences, &[&dh]).expect("BPTT");
    let mut keyed: Vec<(String, Vec<f64>)> =
        cell.params.values().zip(gradients.params).map(|(p, g)| (format!("param.{}", p.name), g)).collect();
    keyed.push(("input.x".to_owned(), gradients.inputs.into_iter().next().expect("one input")));
    for (state, g) in ["c", "h"].into_iter().zip(gradients.initial) {
        keyed.push((format!("init.{state}"), g));
    }
    keyed
}

#[test]
fn grad_writes_every_gradient_under_the_contract_s_keys_on_both_backends() {
    let dir = workdir("ok");
    let data = write_data(&dir);
    let expected = reference(&data);
    for backend in ["gpu", "cpu"] {
        for method in ["newton", "sequential"] {
            let out = path(&dir, &format!("g-{backend}-{method}.safetensors"));
            let report = path(&dir, "report.json");
            let output = rnnc(&[
                "grad",
                "stdlib:para_lstm",
                "--params",
                &path(&dir, "params.safetensors"),
                "--input",
                &format!("x={}", path(&dir, "x.npy")),
                "--init",
                &format!("c={}", path(&dir, "c0.npy")),
                "--init",
                &format!("h={}", path(&dir, "h0.npy")),
                "--dout",
                &format!("h={}", path(&dir, "dh.npy")),
                "--out",
                &out,
                "--backend",
                backend,
                "--method",
                method,
                "--report",
                &report,
            ]);
            assert_eq!(output.status.code(), Some(0), "{backend} {method}: {}", stderr(&output));
            let gradients = read_safetensors(Path::new(&out)).expect("a gradients file");
            let keys: Vec<&String> = gradients.keys().collect();
            assert_eq!(keys.len(), expected.len(), "{backend}: {keys:?}");
            for (key, want) in &expected {
                let got = gradients.get(key).unwrap_or_else(|| panic!("{backend}: no `{key}` in {keys:?}"));
                let like = match key.as_str() {
                    "input.x" => vec![2, 30, 3],
                    "init.c" | "init.h" => vec![2, 8],
                    _ => data.params[key.trim_start_matches("param.")].shape().to_vec(),
                };
                assert_eq!(got.shape(), like.as_slice(), "{backend} {key}");
                let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                let error = got.data().iter().zip(want).fold(0.0f64, |m, (&g, &w)| m.max((f64::from(g) - w).abs()));
                assert!(error / scale < 1e-4, "{backend} {method} {key}: off by {error:e} (scale {scale:e})");
            }
            let json: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("JSON");
            assert!(json["backward_ms"].as_f64().is_some(), "{backend}: {json}");
            assert_eq!(json["method"], method, "{backend}: {json}");
        }
    }
}

#[test]
fn bad_cotangents_are_rejected_by_name_and_nothing_is_written() {
    let dir = workdir("bad");
    write_data(&dir);
    let wrong = random_tensor(vec![2, 29, 8], -1.0, 1.0, 9).expect("tensor");
    write_npy(&dir.join("wrong.npy"), &wrong).expect("writes");
    let out = path(&dir, "g.safetensors");
    let cases: [(&str, &str, &str); 3] = [
        (
            "y",
            "dh.npy",
            "output cotangent `y` (shape [2, 30, 8]) is not declared by cell `para_lstm`; its outputs are `h`",
        ),
        ("h", "wrong.npy", "output cotangent `h` has shape [2, 29, 8], expected [2, 30, 8] = [B, T, H]"),
        ("h", "dh.npy", "gradients are written as one .safetensors file"),
    ];
    for (index, (name, file, message)) in cases.into_iter().enumerate() {
        let target = if index == 2 { path(&dir, "g.npy") } else { out.clone() };
        let output = rnnc(&[
            "grad",
            "stdlib:para_lstm",
            "--params",
            &path(&dir, "params.safetensors"),
            "--input",
            &format!("x={}", path(&dir, "x.npy")),
            "--dout",
            &format!("{name}={}", path(&dir, file)),
            "--out",
            &target,
        ]);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(stderr(&output).contains(message), "expected `{message}` in: {}", stderr(&output));
        assert!(!Path::new(&target).exists(), "{target} was written");
    }
    let missing = rnnc(&["grad", "stdlib:para_lstm", "--params", "p", "--input", "x=x.npy", "--out", &out]);
    assert_eq!(missing.status.code(), Some(2), "--dout is required: {}", stderr(&missing));
}

/// A `scalar` parameter end to end (`stdlib:cornn`'s `dt`, `gamma`, `eps`): read
/// from the parameters file as a tensor of shape `[]`, its gradient written as
/// one, equal on both backends to the sum of the float64 interpreter's
/// per-element gradients; `inspect` shows the shape `[]`.
#[test]
fn scalar_parameters_are_one_number_in_and_out() {
    let dir = workdir("scalar");
    let source = rnnc_stdlib::get("cornn").expect("shipped").source;
    let cell = compiler::check_source(source).expect("checks").remove(0);
    let derived = compiler::derive_cell(&cell).expect("derives");
    let sizes = cell.bind_dims(|n| Some(if n == "H" { 4 } else { 3 })).expect("binds");
    let params = random_params(&cell, &sizes, 7).expect("params");
    assert_eq!(params["dt"].shape(), &[] as &[usize], "a scalar is stored with no axis");
    write_safetensors(&dir.join("params.safetensors"), params.iter().map(|(n, t)| (n.as_str(), t))).expect("writes");
    let (_, u) = random_inputs(&cell, &sizes, 1, 20, 8).expect("inputs").remove(0);
    write_npy(&dir.join("u.npy"), &u).expect("writes");
    let dy = random_tensor(vec![1, 20, 4], -1.0, 1.0, 9).expect("dout");
    write_npy(&dir.join("dy.npy"), &dy).expect("writes");

    let widen = |t: &Tensor| t.data().iter().map(|&v| f64::from(v)).collect::<Vec<f64>>();
    let values = compiler::interp::ParamValues::from_fn(&cell, &sizes, |p, i| {
        let param = &cell.params[p];
        f64::from(params[&param.name].data()[if param.scalar { 0 } else { i }])
    });
    let interp = derived.interpreter(&sizes, &values).expect("interpreter");
    let (u64_, dy64, zeros) = (widen(&u), widen(&dy), vec![0.0; 4]);
    let sequences =
        compiler::interp::Sequences { batch: 1, steps: 20, inputs: &[&u64_], initial: &[Some(&zeros), Some(&zeros)] };
    let want = interp.backward_sequence(&derived.derivatives, &sequences, &[&dy64]).expect("BPTT");
    for backend in ["cpu", "gpu"] {
        let out = path(&dir, &format!("g-{backend}.safetensors"));
        let output = rnnc(&[
            "grad",
            "stdlib:cornn",
            "--params",
            &path(&dir, "params.safetensors"),
            "--input",
            &format!("u={}", path(&dir, "u.npy")),
            "--dout",
            &format!("y={}", path(&dir, "dy.npy")),
            "--out",
            &out,
            "--backend",
            backend,
            "--method",
            "sequential",
        ]);
        assert_eq!(output.status.code(), Some(0), "{backend}: {}", stderr(&output));
        let gradients = read_safetensors(Path::new(&out)).expect("a gradients file");
        for (param, per_element) in cell.params.values().zip(&want.params).filter(|(p, _)| p.scalar) {
            let got = &gradients[&format!("param.{}", param.name)];
            assert_eq!(got.shape(), &[] as &[usize], "{backend} {}", param.name);
            let expected: f64 = per_element.iter().sum();
            let error = (f64::from(got.data()[0]) - expected).abs() / expected.abs().max(1.0);
            assert!(error < 1e-4, "{backend} {}: {} against {expected}", param.name, got.data()[0]);
        }
    }
    let inspect = rnnc(&["inspect", "stdlib:cornn", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("JSON");
    let dt = json["params"].as_array().expect("params").iter().find(|p| p["name"] == "dt").expect("dt");
    assert_eq!(dt["shape"], serde_json::json!([]), "{json}");
}
