//! The data of a backward pass: the outputs' cotangents checked against bound
//! data ([`BoundData::bind_douts`]), and the gradients as named tensors
//! ([`Gradients`]), written as one `.safetensors` file with the contract's keys
//! `param.NAME`, `input.NAME` and `init.NAME`.

use std::path::Path;

use rnnc_compiler::check::Cell;

use super::atomic::StagedFiles;
use super::bind::{BoundData, check_finite};
use super::error::{DataError, ShapeMismatch, TensorRef, TensorRole, name_list};
use super::layout::{axes_text, output_axes, shape_of};
use super::safetensors_file::stage_safetensors;
use super::tensor::{Tensor, shape_text};
use crate::solve::GradientBuffers;

/// Gradients by name, each of the shape of what it is the gradient of.
#[derive(Clone, Debug, PartialEq)]
pub struct Gradients {
    /// Per parameter, in the cell's order.
    pub params: Vec<(String, Tensor)>,
    /// Per input, `[B, T, D]`.
    pub inputs: Vec<(String, Tensor)>,
    /// Per state, its initial value's, `[B, H]`.
    pub inits: Vec<(String, Tensor)>,
}

impl Gradients {
    /// The gradients in `buffers` of data bound to `cell`, named and shaped.
    pub fn new(cell: &Cell, data: &BoundData, buffers: GradientBuffers) -> Result<Gradients, DataError> {
        let name = |names: Vec<&String>, tensors: &[Tensor], buffers: Vec<Vec<f32>>| {
            names
                .into_iter()
                .zip(tensors)
                .zip(buffers)
                .map(|((name, like), values)| Ok((name.clone(), Tensor::new(like.shape().to_vec(), values)?)))
                .collect::<Result<Vec<_>, DataError>>()
        };
        // A `scalar` parameter's gradient is one number (shape `[]`), not the
        // repeated tensor the kernels read.
        let params = cell
            .params
            .values()
            .zip(data.params())
            .zip(buffers.params)
            .map(|((param, like), values)| {
                let shape = if param.scalar { Vec::new() } else { like.shape().to_vec() };
                Ok((param.name.clone(), Tensor::new(shape, values)?))
            })
            .collect::<Result<Vec<_>, DataError>>()?;
        Ok(Gradients {
            params,
            inputs: name(cell.inputs.values().map(|i| &i.name).collect(), data.inputs(), buffers.inputs)?,
            inits: name(cell.states.values().map(|s| &s.name).collect(), data.inits(), buffers.inits)?,
        })
    }

    /// Every gradient under its file key: `param.NAME`, `input.NAME`, `init.NAME`.
    pub fn keyed(&self) -> Vec<(String, &Tensor)> {
        [("param", &self.params), ("input", &self.inputs), ("init", &self.inits)]
            .into_iter()
            .flat_map(|(prefix, tensors)| tensors.iter().map(move |(n, t)| (format!("{prefix}.{n}"), t)))
            .collect()
    }

    /// The gradient of parameter `name`.
    pub fn param(&self, name: &str) -> Option<&Tensor> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// Writes every gradient to `path` (`.safetensors`, atomically).
    pub fn write(&self, path: &Path) -> Result<(), DataError> {
        let mut files = StagedFiles::new();
        self.stage(&mut files, path)?;
        files.commit()
    }

    /// Stages every gradient for `path` among `files`, as [`Gradients::write`]
    /// writes them (written when the files are committed).
    pub fn stage(&self, files: &mut StagedFiles, path: &Path) -> Result<(), DataError> {
        let keyed = self.keyed();
        stage_safetensors(files, path, keyed.iter().map(|(k, t)| (k.as_str(), *t)))
    }
}

impl BoundData {
    /// Checks the outputs' cotangents for a backward pass of `cell` over this
    /// data: each named after an output, at most once, `[B, T, size]` (`[B, T,
    /// R, C]` for a matrix output) with this
    /// data's sizes, finite. An output not named gets a zero cotangent. Returns
    /// one buffer per output, in the cell's order.
    pub fn bind_douts(&self, cell: &Cell, douts: Vec<(String, Tensor)>) -> Result<Vec<Vec<f32>>, DataError> {
        let mut bound: Vec<Option<Tensor>> = vec![None; cell.outputs.len()];
        for (name, tensor) in douts {
            let tensor_ref = TensorRef::new(TensorRole::OutputCotangent, &name);
            let Some(index) = cell.outputs.values().position(|o| o.name == name) else {
                return Err(DataError::Unknown {
                    tensor: tensor_ref,
                    actual: tensor.shape_text(),
                    cell: cell.name.clone(),
                    kind: "outputs are",
                    known: name_list(cell.outputs.values().map(|o| o.name.as_str())),
                });
            };
            if bound[index].is_some() {
                return Err(DataError::Duplicate { tensor: tensor_ref });
            }
            let output = cell.outputs.values().nth(index).expect("found above");
            let axes = output_axes(output.size);
            let expected = shape_of(&axes, cell, self.dims(), self.batch(), self.seq_len())?;
            if tensor.shape() != expected {
                return Err(DataError::ShapeMismatch(Box::new(ShapeMismatch {
                    tensor: tensor_ref,
                    actual: tensor.shape_text(),
                    expected: shape_text(&expected),
                    declared: axes_text(&axes, cell),
                    because: "the shape of the output".to_owned(),
                })));
            }
            check_finite(TensorRole::OutputCotangent, &name, &tensor)?;
            bound[index] = Some(tensor);
        }
        Ok(bound
            .into_iter()
            .zip(cell.outputs.values())
            .map(|(tensor, output)| match tensor {
                Some(tensor) => tensor.into_data(),
                None => vec![0.0; self.batch() * self.seq_len() * self.dims().of(output.size) as usize],
            })
            .collect())
    }
}
