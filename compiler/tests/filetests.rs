//! The filetest runner: every `.rnn` file under `tests/filetests/` (at the
//! workspace root) is a test.
//!
//! A file holds cells and comment lines that say what to test:
//!
//! ```text
//! // test: jacobian                      derive the (single) cell; run the checks
//! // test: finite-differences            check every derivative of every cell
//!                                        against central differences
//! // check: structure = block-diagonal 2 the state Jacobian's structure
//! // check: hoisted = 3                  the number of hoisted nodes
//! // check: linear = all                 the states whose updates are affine in
//!                                        the states: `all`, `none`, or names
//! // check: d c'/d h = diagonal          one derivative's structure: `d NAME'/d X`
//!                                        (a state's update) or `d output NAME/d X`,
//!                                        X a state or input; the value is `zero`,
//!                                        `diagonal`, `block-diagonal K` or `dense`
//! // test: wgsl H=8,D=4                  generate the (single) cell's GPU kernels
//!                                        (recurrence and backward) for these sizes
//! // wgsl-contains: TEXT                 the generated WGSL holds TEXT
//! // wgsl-lacks: TEXT                    ... and not TEXT
//! // test: clif H=8,D=4                  likewise its CPU functions (`--emit clif`)
//! // clif-contains: TEXT / clif-lacks: TEXT
//! ```
//!
//! Run with `RNNC_BLESS=1` to rewrite every `check:` line with what the compiler
//! now derives (then review the diff).

mod common;

use std::path::{Path, PathBuf};

use rnnc_compiler::{Derived, check_source, derive_cell};

fn filetests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/filetests")
}

/// What the compiler derives for the key of a `check:` line.
fn actual(derived: &Derived, key: &str) -> Result<String, String> {
    match key {
        "structure" => Ok(derived.structure().to_string()),
        "hoisted" => Ok(derived.hoisting.nodes.len().to_string()),
        "linear" => Ok(rnnc_compiler::linear_states(derived)),
        _ => {
            let (of, wrt) = key
                .strip_prefix("d ")
                .and_then(|rest| rest.split_once("/d "))
                .ok_or_else(|| format!("unknown check `{key}`"))?;
            let cell = &derived.cell;
            let result = if let Some(state) = of.strip_suffix('\'') {
                let index = cell.states.values().position(|s| s.name == state);
                index.and_then(|i| derived.derivatives.updates.get(i))
            } else if let Some(output) = of.strip_prefix("output ") {
                let index = cell.outputs.values().position(|o| o.name == output);
                index.and_then(|i| derived.derivatives.outputs.get(i))
            } else {
                None
            };
            let result = result.ok_or_else(|| format!("`{of}` is neither `STATE'` nor `output NAME`"))?;
            let map = if let Some(j) = cell.states.values().position(|s| s.name == wrt) {
                result.states[j]
            } else if let Some(i) = cell.inputs.values().position(|x| x.name == wrt) {
                result.inputs[i]
            } else {
                return Err(format!("`{wrt}` is neither a state nor an input"));
            };
            Ok(match map {
                None => "zero".to_owned(),
                Some(map) => derived.derivatives.maps.structure(Some(map)).to_string(),
            })
        }
    }
}

/// Runs one file; returns its failures, and its text rewritten with the actual
/// values when `bless`.
fn run_file(path: &Path, bless: bool) -> (Vec<String>, Option<String>) {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => return (vec![format!("{name}: cannot read: {error}")], None),
    };
    let cells = match check_source(&text) {
        Ok(cells) => cells,
        Err(errors) => return (vec![format!("{name}: does not check: {errors:?}")], None),
    };
    let mut failures = Vec::new();
    let tests: Vec<&str> =
        text.lines().filter_map(|line| line.trim().strip_prefix("// test:")).map(str::trim).collect();
    if tests.is_empty() {
        failures.push(format!("{name}: no `// test:` line"));
    }
    let derived: Vec<Derived> = cells
        .iter()
        .filter_map(|cell| match derive_cell(cell) {
            Ok(derived) => Some(derived),
            Err(error) => {
                failures.push(format!("{name}: cell {} does not derive: {error}", cell.name));
                None
            }
        })
        .collect();
    let mut rewritten = Vec::new();
    for line in text.lines() {
        let Some(check) = line.trim().strip_prefix("// check:") else {
            rewritten.push(line.to_owned());
            continue;
        };
        let Some((key, expected)) = check.split_once(" = ") else {
            failures.push(format!("{name}: malformed check line `{line}`"));
            rewritten.push(line.to_owned());
            continue;
        };
        let (key, expected) = (key.trim(), expected.trim());
        let found = match (tests.contains(&"jacobian"), derived.as_slice()) {
            (true, [one]) => actual(one, key),
            (true, _) => Err("a `jacobian` test needs exactly one cell".to_owned()),
            (false, _) => Err("`check:` lines need `// test: jacobian`".to_owned()),
        };
        match found {
            Ok(found) => {
                if found != expected && !bless {
                    failures.push(format!("{name}: `{key}`: expected `{expected}`, derived `{found}`"));
                }
                rewritten.push(format!("// check: {key} = {found}"));
            }
            Err(error) => {
                failures.push(format!("{name}: `{key}`: {error}"));
                rewritten.push(line.to_owned());
            }
        }
    }
    for test in &tests {
        if let Some((language, dims)) = test.split_once(' ')
            && matches!(language, "wgsl" | "clif")
        {
            failures.extend(check_generated(&name, &text, &derived, language, dims));
            continue;
        }
        match *test {
            "jacobian" => {}
            "finite-differences" => {
                for (seed, one) in derived.iter().enumerate() {
                    if let Err(error) = common::check_derivatives(one, 1000 + seed as u64, 3) {
                        failures.push(format!("{name}: cell {}: {error}", one.cell.name));
                    }
                }
            }
            other => failures.push(format!("{name}: unknown test `{other}`")),
        }
    }
    let mut new_text = rewritten.join("\n");
    if text.ends_with('\n') {
        new_text.push('\n');
    }
    (failures, (bless && new_text != text).then_some(new_text))
}

/// The `LANGUAGE-contains:` and `LANGUAGE-lacks:` lines of a file against the
/// code generated for its single cell with `dims` (`H=8,D=4`).
fn check_generated(name: &str, text: &str, derived: &[Derived], language: &str, dims: &str) -> Vec<String> {
    let [one] = derived else { return vec![format!("{name}: a `{language}` test needs exactly one cell")] };
    let sizes: Vec<(String, u64)> = dims
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .filter_map(|(dim, size)| size.trim().parse().ok().map(|size| (dim.trim().to_owned(), size)))
        .collect();
    let sizes = match one.cell.bind_dims(|dim| sizes.iter().find(|(d, _)| d == dim).map(|&(_, s)| s)) {
        Ok(sizes) => sizes,
        Err(errors) => return vec![format!("{name}: `{language} {dims}`: {errors:?}")],
    };
    let generated = match language {
        "wgsl" => rnnc_compiler::backend::wgsl::generate(one, &sizes, &Default::default()).and_then(|kernels| {
            let adjoint = rnnc_compiler::backend::wgsl::generate_adjoint(one, &sizes, &kernels.plan, kernels.newton)?;
            Ok(format!("{}\n{}", kernels.recurrence, adjoint.text))
        }),
        _ => rnnc_compiler::backend::clif::clif_text(one, &sizes),
    };
    let generated = match generated {
        Ok(generated) => generated,
        Err(error) => return vec![format!("{name}: `{language}` generation failed: {error}")],
    };
    let mut failures = Vec::new();
    let mut checks = 0;
    for line in text.lines().map(str::trim) {
        if let Some(wanted) = line.strip_prefix(&format!("// {language}-contains:")) {
            checks += 1;
            if !generated.contains(wanted.trim()) {
                failures.push(format!("{name}: the {language} lacks `{}`", wanted.trim()));
            }
        } else if let Some(unwanted) = line.strip_prefix(&format!("// {language}-lacks:")) {
            checks += 1;
            if generated.contains(unwanted.trim()) {
                failures.push(format!("{name}: the {language} holds `{}`", unwanted.trim()));
            }
        }
    }
    if checks == 0 {
        failures.push(format!("{name}: a `{language}` test with no `{language}-contains:` or `-lacks:` line"));
    }
    failures
}

#[test]
fn filetests() {
    let bless = std::env::var_os("RNNC_BLESS").is_some_and(|v| v == "1");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(filetests_dir())
        .expect("tests/filetests exists")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "rnn"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 12, "expected at least a dozen filetests, found {}", paths.len());
    let mut failures = Vec::new();
    for path in &paths {
        let (mut file_failures, blessed) = run_file(path, bless);
        if let Some(text) = blessed
            && let Err(error) = std::fs::write(path, text)
        {
            file_failures.push(format!("{}: cannot bless: {error}", path.display()));
        }
        failures.append(&mut file_failures);
    }
    assert!(failures.is_empty(), "{} filetest failure(s):\n{}", failures.len(), failures.join("\n"));
}
