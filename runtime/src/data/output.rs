//! A cell's outputs as files: [`output_tensors`] names raw output buffers and gives
//! them their shape `[B, T, H]`; [`OutputFormat`] decides from the path whether they
//! go to one `.npy` (a cell with exactly one output) or a `.safetensors` file (every
//! output by name); [`write_outputs`] writes them atomically.

use std::path::Path;

use rnnc_compiler::check::{Cell, DimSizes};

use super::atomic::StagedFiles;
use super::bind::BoundData;
use super::error::{DataError, TensorRef, TensorRole, name_list};
use super::layout::{output_axes, shape_of};
use super::npy::stage_npy;
use super::safetensors_file::stage_safetensors;
use super::tensor::{Tensor, element_count, shape_text};

/// The kind of file outputs are written to, chosen by the path's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// `.npy`: the one output of a cell that has exactly one.
    Npy,
    /// `.safetensors`: every output, by name.
    Safetensors,
}

impl OutputFormat {
    /// The format for writing the outputs of `cell` to `path`; an error if the
    /// extension is neither `.npy` nor `.safetensors`, or if it is `.npy` and the cell
    /// has more than one output. Call it before running, so a bad path fails early.
    pub fn for_path(path: &Path, cell: &Cell) -> Result<OutputFormat, DataError> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("npy") if cell.outputs.len() == 1 => Ok(OutputFormat::Npy),
            Some("npy") => Err(DataError::NpyNeedsOneOutput {
                path: path.to_owned(),
                cell: cell.name.clone(),
                count: cell.outputs.len(),
                names: name_list(cell.outputs.values().map(|o| o.name.as_str())),
            }),
            Some("safetensors") => Ok(OutputFormat::Safetensors),
            _ => Err(DataError::OutputExtension { path: path.to_owned() }),
        }
    }
}

/// The outputs of `cell` as named tensors `[B, T, H]`, in declaration order, from one
/// buffer per output holding its values in C order.
pub fn output_tensors(
    cell: &Cell,
    dims: &DimSizes,
    batch: usize,
    seq_len: usize,
    buffers: Vec<Vec<f32>>,
) -> Result<Vec<(String, Tensor)>, DataError> {
    if buffers.len() != cell.outputs.len() {
        return Err(DataError::OutputCount {
            cell: cell.name.clone(),
            expected: cell.outputs.len(),
            actual: buffers.len(),
        });
    }
    let mut outputs = Vec::with_capacity(buffers.len());
    for (output, buffer) in cell.outputs.values().zip(buffers) {
        let shape = shape_of(&output_axes(output.size), cell, dims, batch, seq_len)?;
        let expected = element_count(&shape).ok_or_else(|| DataError::SizeOverflow { shape: shape_text(&shape) })?;
        if buffer.len() != expected {
            return Err(DataError::OutputLength {
                tensor: TensorRef::new(TensorRole::Output, &output.name),
                shape: shape_text(&shape),
                expected,
                actual: buffer.len(),
            });
        }
        outputs.push((output.name.clone(), Tensor::new(shape, buffer)?));
    }
    Ok(outputs)
}

impl BoundData {
    /// The outputs of `cell` for this data, as [`output_tensors`] gives them.
    pub fn output_tensors(&self, cell: &Cell, buffers: Vec<Vec<f32>>) -> Result<Vec<(String, Tensor)>, DataError> {
        output_tensors(cell, self.dims(), self.batch(), self.seq_len(), buffers)
    }
}

/// Writes the outputs of `cell` to `path`: the one output to a `.npy` file, or every
/// output by name to a `.safetensors` file. Everything is checked before the file is
/// touched, and the file appears whole or not at all.
pub fn write_outputs(path: &Path, cell: &Cell, outputs: &[(String, Tensor)]) -> Result<(), DataError> {
    let mut files = StagedFiles::new();
    stage_outputs(&mut files, path, cell, outputs)?;
    files.commit()
}

/// Stages the outputs of `cell` for `path` among `files`, as [`write_outputs`]
/// writes them (written when the files are committed).
pub fn stage_outputs(
    files: &mut StagedFiles,
    path: &Path,
    cell: &Cell,
    outputs: &[(String, Tensor)],
) -> Result<(), DataError> {
    let format = OutputFormat::for_path(path, cell)?;
    if outputs.len() != cell.outputs.len() {
        return Err(DataError::OutputCount {
            cell: cell.name.clone(),
            expected: cell.outputs.len(),
            actual: outputs.len(),
        });
    }
    match (format, outputs) {
        (OutputFormat::Npy, [(_, tensor)]) => stage_npy(files, path, tensor),
        (OutputFormat::Npy, _) => {
            Err(DataError::OutputCount { cell: cell.name.clone(), expected: 1, actual: outputs.len() })
        }
        (OutputFormat::Safetensors, _) => {
            stage_safetensors(files, path, outputs.iter().map(|(name, t)| (name.as_str(), t)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(source: &str) -> Cell {
        rnnc_compiler::check_source(source).expect("a valid cell").remove(0)
    }

    const TWO_OUTPUTS: &str = "cell two { dim H; input x: [H]; state c: [H]; state h: [H]; \
        c' = c + x; h' = tanh(c'); output c; output h; }";

    #[test]
    fn buffers_become_named_tensors_of_shape_b_t_h() {
        let cell = cell(TWO_OUTPUTS);
        let dims = cell.bind_dims(|_| Some(3)).expect("bound");
        let outputs = output_tensors(&cell, &dims, 2, 4, vec![vec![0.5; 24], vec![1.5; 24]]).expect("right lengths");
        assert_eq!(
            outputs.iter().map(|(n, t)| (n.as_str(), t.shape())).collect::<Vec<_>>(),
            [("c", &[2, 4, 3][..]), ("h", &[2, 4, 3][..])]
        );
        let error = output_tensors(&cell, &dims, 2, 4, vec![vec![0.0; 24]]).expect_err("one buffer");
        assert_eq!(error.to_string(), "cell `two` has 2 output(s), but 1 buffer(s) were given");
        let error = output_tensors(&cell, &dims, 2, 4, vec![vec![0.0; 24], vec![0.0; 23]]).expect_err("short");
        assert_eq!(error.to_string(), "output `h` needs 24 values for shape [2, 4, 3], but its buffer holds 23");
    }

    #[test]
    fn the_extension_decides_and_npy_needs_one_output() {
        let two = cell(TWO_OUTPUTS);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let npy = dir.path().join("out.npy");
        let error = OutputFormat::for_path(&npy, &two).expect_err("two outputs");
        assert_eq!(
            error.to_string(),
            format!(
                "{}: a .npy file holds one output, but cell `two` has 2 (`c`, `h`); \
                 write a .safetensors file to get every output by name",
                npy.display()
            )
        );
        let txt = dir.path().join("out.txt");
        let error = OutputFormat::for_path(&txt, &two).expect_err("bad extension");
        assert_eq!(
            error.to_string(),
            format!(
                "{}: the output file must end in .npy (one output) or .safetensors (every output by name)",
                txt.display()
            )
        );
        let dims = two.bind_dims(|_| Some(2)).expect("bound");
        let outputs = output_tensors(&two, &dims, 1, 1, vec![vec![1.0, 2.0], vec![3.0, 4.0]]).expect("right lengths");
        assert!(
            write_outputs(&npy, &two, &outputs).is_err_and(|e| e.to_string().contains("a .npy file holds one output"))
        );
        let st = dir.path().join("out.safetensors");
        write_outputs(&st, &two, &outputs).expect("writable");
        let back = super::super::safetensors_file::read_safetensors(&st).expect("readable");
        assert_eq!(back.into_iter().collect::<Vec<_>>(), outputs);
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("readable")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["out.safetensors"]);
    }
}
