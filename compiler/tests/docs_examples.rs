//! The worked examples of docs/PORTING.md: every ```rnn block checks and
//! derives, and rnnc proves for each the structure the page claims.

use std::path::Path;

use rnnc_compiler::{check_source, derive_cell};

/// The ```rnn blocks of a markdown file.
fn rnn_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```rnn") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn the_porting_examples_check_and_have_the_structure_the_page_claims() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/PORTING.md");
    let page = std::fs::read_to_string(&path).expect("docs/PORTING.md");
    let claimed = [
        ("mingru_g", "diagonal"),
        ("gelu_rnn", "diagonal"),
        ("cornn_port", "dense"),
        ("torch_gru", "dense"),
        ("rms_rnn", "dense"),
        ("selective_ssm", "diagonal"),
        ("mamba_ssm", "diagonal"),
    ];
    let blocks = rnn_blocks(&page);
    assert_eq!(blocks.len(), claimed.len(), "one claim per example");
    for block in blocks {
        let cells = check_source(&block).unwrap_or_else(|e| panic!("does not check: {e:?}\n{block}"));
        for cell in cells {
            let derived = derive_cell(&cell).unwrap_or_else(|e| panic!("{}: {e}", cell.name));
            let (_, structure) = claimed
                .iter()
                .find(|(name, _)| *name == cell.name)
                .unwrap_or_else(|| panic!("no claim for {}", cell.name));
            assert_eq!(derived.structure().name(), *structure, "{}", cell.name);
        }
    }
}

/// The text from `cell NAME {` to the end.
fn cell_text(source: &str, name: &str) -> Option<String> {
    let start = source.find(&format!("cell {name} {{"))?;
    Some(source[start..].trim_end().to_owned())
}

#[test]
fn the_selective_ssm_example_is_the_cell_the_runtime_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let page = std::fs::read_to_string(root.join("docs/PORTING.md")).expect("docs/PORTING.md");
    let block = rnn_blocks(&page).into_iter().find(|b| b.contains("cell selective_ssm")).expect("the example");
    let filetest = std::fs::read_to_string(root.join("tests/filetests/selective_ssm.rnn")).expect("the filetest");
    assert_eq!(cell_text(&block, "selective_ssm"), cell_text(&filetest, "selective_ssm"));
}

#[test]
fn the_matrix_selective_ssm_example_is_the_shipped_mamba_ssm() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let page = std::fs::read_to_string(root.join("docs/PORTING.md")).expect("docs/PORTING.md");
    let block = rnn_blocks(&page).into_iter().find(|b| b.contains("cell mamba_ssm")).expect("the example");
    let shipped = rnnc_stdlib::get("mamba_ssm").expect("a stdlib cell").source;
    assert_eq!(block.trim_end(), shipped.trim_end(), "docs/PORTING.md's example is stdlib/cells/mamba_ssm.rnn");
}
