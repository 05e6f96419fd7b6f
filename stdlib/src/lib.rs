//! The cells shipped with rnnc, embedded as `.rnn` source.
//!
//! Each cell lives in its own file under `stdlib/cells/`, where users can read and
//! copy it; this crate embeds the same files so the binary can compile them by name
//! (`stdlib:para_gru` on the command line).
#![deny(missing_docs)]

/// A shipped cell: its name (also its file's stem) and its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StdlibCell {
    /// The cell's name, as defined in its source.
    pub name: &'static str,
    /// The `.rnn` source that defines it.
    pub source: &'static str,
}

macro_rules! cells {
    ($($name:literal),* $(,)?) => {
        /// Every shipped cell, in alphabetical order.
        pub const CELLS: &[StdlibCell] = &[
            $(StdlibCell { name: $name, source: include_str!(concat!("../cells/", $name, ".rnn")) }),*
        ];
    };
}

cells![
    "block_elman",
    "cornn",
    "elman",
    "gru",
    "indrnn",
    "lstm",
    "mamba_ssm",
    "mingru",
    "minlstm",
    "para_gru",
    "para_gru_mh",
    "para_lstm",
    "para_lstm_cifg_mh",
    "slstm",
    "torch_gru",
];

/// The largest block size of the cells that the every-cell tests run at small
/// sizes. Cells with larger blocks (ParaRNN's multi-head models: heads of 512
/// channels) are sized for benchmarks, and have tests of their own
/// (`runtime/tests/pararnn_models.rs`).
pub const LARGEST_SMALL_TEST_BLOCK: u64 = 64;

/// The shipped cell called `name`.
pub fn get(name: &str) -> Option<&'static StdlibCell> {
    CELLS.iter().find(|cell| cell.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_file_is_embedded_under_its_own_name() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cells");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .expect("stdlib/cells exists")
            .map(|entry| entry.expect("readable").path())
            .filter(|path| path.extension().is_some_and(|e| e == "rnn"))
            .map(|path| path.file_stem().expect("a stem").to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let embedded: Vec<&str> = CELLS.iter().map(|c| c.name).collect();
        assert_eq!(on_disk, embedded);
        for cell in CELLS {
            assert!(cell.source.contains(&format!("cell {} {{", cell.name)), "{}", cell.name);
        }
        assert_eq!(get("para_gru").map(|c| c.name), Some("para_gru"));
        assert!(get("nope").is_none());
    }
}
