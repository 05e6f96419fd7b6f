//! Snapshot tests of rendered diagnostics: for every `tests/diagnostics/NAME.rnn`,
//! `rnnc check` must exit with status 1 and print exactly `NAME.stderr`.
//! `RNNC_BLESS=1 cargo test --test diagnostics` rewrites the expectations.

mod support;

use support::{blessing, rnnc, root, stderr};

#[test]
fn every_fixture_renders_its_expected_diagnostics() {
    let dir = root().join("tests/diagnostics");
    let mut fixtures: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/diagnostics exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rnn"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 30, "found only {} fixtures", fixtures.len());
    let mut failures = Vec::new();
    for fixture in &fixtures {
        let relative = fixture.strip_prefix(root()).expect("under the root").to_string_lossy().into_owned();
        let output = rnnc(&["check", &relative]);
        let actual = stderr(&output);
        assert!(!actual.contains("panicked"), "{relative} panicked:\n{actual}");
        assert_eq!(output.status.code(), Some(1), "{relative} must fail with status 1:\n{actual}");
        let expected_path = fixture.with_extension("stderr");
        if blessing() {
            std::fs::write(&expected_path, &actual).expect("writable");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!("--- {relative}\nexpected:\n{expected}\nactual:\n{actual}"));
        }
    }
    assert!(failures.is_empty(), "{} mismatches (RNNC_BLESS=1 to accept):\n{}", failures.len(), failures.join("\n"));
}
