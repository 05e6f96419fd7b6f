//! Binding data to a cell: [`BoundData::bind`] checks the parameters, inputs and
//! initial states given for one run against a checked [`Cell`] (names, shapes, sizes,
//! finiteness) before any work is done, and holds them in the order the cell declares
//! them, with every dim, `B` and `T` known.

use std::collections::BTreeMap;

use rnnc_compiler::arena::Handle;
use rnnc_compiler::check::{Cell, DimSizes, Input, Param, State};

use super::error::{DataError, TensorRef, TensorRole, name_list};
use super::layout::{init_axes, input_axes, param_axes, shape_of, stored_axes};
use super::sizes::SizeBinder;
use super::tensor::Tensor;
use crate::GradientBuffers;

/// The data of one run, checked against a cell: every dim, the batch size `B` and the
/// sequence length `T` known, and every tensor of the declared shape with finite values.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundData {
    dims: DimSizes,
    batch: usize,
    seq_len: usize,
    params: Vec<Tensor>,
    /// Per parameter, whether it is declared `scalar` (its tensor in `params`
    /// is its number repeated).
    scalar: Vec<bool>,
    inputs: Vec<Tensor>,
    inits: Vec<Tensor>,
}

impl BoundData {
    /// Checks and binds the data of one run of `cell`:
    /// - `params`: every parameter by name, no other (as read from one `.safetensors`
    ///   file), each stored as declared (`[H]`, `[H, D]`, `block[H, K]` as `[H/K, K, K]`);
    /// - `inputs`: every input exactly once, `[B, T, D]`, all with the same `B` and `T`;
    /// - `inits`: initial states by name, `[B, H]`; a state not named starts at zero.
    ///
    /// Each size is taken from the first tensor that mentions it, in this order:
    /// parameters, inputs and initial states, each in declaration order. Every value
    /// must be finite. The first problem found is returned.
    pub fn bind(
        cell: &Cell,
        params: BTreeMap<String, Tensor>,
        inputs: Vec<(String, Tensor)>,
        inits: Vec<(String, Tensor)>,
    ) -> Result<BoundData, DataError> {
        let params = order_params(cell, params)?;
        let inputs = order_inputs(cell, inputs)?;
        let inits = order_inits(cell, inits)?;

        let mut sizes = SizeBinder::new(cell);
        for ((_, param), tensor) in cell.params.iter().zip(&params) {
            let name = TensorRef::new(TensorRole::Parameter, &param.name);
            sizes.check(&name, tensor.shape(), &stored_axes(param))?;
        }
        for ((_, input), tensor) in cell.inputs.iter().zip(&inputs) {
            let name = TensorRef::new(TensorRole::Input, &input.name);
            sizes.check(&name, tensor.shape(), &input_axes(input.size))?;
        }
        for ((_, state), tensor) in cell.states.iter().zip(&inits) {
            if let Some(tensor) = tensor {
                let name = TensorRef::new(TensorRole::InitialState, &state.name);
                sizes.check(&name, tensor.shape(), &init_axes(state.size))?;
            }
        }

        let not_inferred = |what: String| DataError::NotInferred { what, cell: cell.name.clone() };
        if let Some(dim) = cell.dims.values().find(|dim| sizes.dim_size(&dim.name).is_none()) {
            return Err(not_inferred(format!("the size of dim `{}`", dim.name)));
        }
        let batch = sizes.batch().ok_or_else(|| not_inferred("the batch size B".to_owned()))?;
        let seq_len = sizes.seq_len().ok_or_else(|| not_inferred("the sequence length T".to_owned()))?;
        let dims = cell.bind_dims(|name| sizes.dim_size(name)).map_err(|errors| DataError::Dims {
            cell: cell.name.clone(),
            messages: errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
        })?;
        // Nothing the run allocates (states, outputs) may exceed the memory there is.
        crate::memory::check_run(cell, &dims, batch, seq_len, false)?;
        // B and T come from tensor axes, which are `usize`.
        let (batch, seq_len) = (batch as usize, seq_len as usize);

        for ((_, param), tensor) in cell.params.iter().zip(&params) {
            check_finite(TensorRole::Parameter, &param.name, tensor)?;
        }
        // A `scalar` parameter's number, repeated to the size the kernels read.
        let params = cell
            .params
            .values()
            .zip(params)
            .map(|(param, tensor)| {
                if !param.scalar {
                    return Ok(tensor);
                }
                let shape = shape_of(&param_axes(param.shape), cell, &dims, batch, seq_len)?;
                Tensor::filled(shape, tensor.data()[0])
            })
            .collect::<Result<Vec<Tensor>, DataError>>()?;
        for ((_, input), tensor) in cell.inputs.iter().zip(&inputs) {
            check_finite(TensorRole::Input, &input.name, tensor)?;
        }
        let mut bound_inits = Vec::with_capacity(inits.len());
        for ((_, state), tensor) in cell.states.iter().zip(inits) {
            let tensor = match tensor {
                Some(tensor) => {
                    check_finite(TensorRole::InitialState, &state.name, &tensor)?;
                    tensor
                }
                None => Tensor::zeros(shape_of(&init_axes(state.size), cell, &dims, batch, seq_len)?)?,
            };
            bound_inits.push(tensor);
        }
        let scalar = cell.params.values().map(|p| p.scalar).collect();
        Ok(BoundData { dims, batch, seq_len, params, scalar, inputs, inits: bound_inits })
    }

    /// The size of every dim.
    pub fn dims(&self) -> &DimSizes {
        &self.dims
    }

    /// The batch size `B`.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The sequence length `T`.
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    /// The parameters, in the order the cell declares them, as the kernels read
    /// them: a `scalar` parameter's number repeated to the size it is broadcast
    /// to.
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// Sums each `scalar` parameter's gradient (accumulated by the kernels per
    /// element of its repeated tensor, see [`BoundData::params`]) into its one
    /// number, in float64.
    pub fn sum_scalar_gradients(&self, gradients: &mut GradientBuffers) {
        for (gradient, _) in gradients.params.iter_mut().zip(&self.scalar).filter(|(_, scalar)| **scalar) {
            let total: f64 = gradient.iter().map(|&g| f64::from(g)).sum();
            *gradient = vec![total as f32];
        }
    }

    /// The inputs `[B, T, D]`, in the order the cell declares them.
    pub fn inputs(&self) -> &[Tensor] {
        &self.inputs
    }

    /// The initial states `[B, H]` (zero where none was given), in the order the cell
    /// declares the states.
    pub fn inits(&self) -> &[Tensor] {
        &self.inits
    }

    /// The parameter `param` of the cell this data was bound to.
    pub fn param(&self, param: Handle<Param>) -> Option<&Tensor> {
        self.params.get(param.index())
    }

    /// The input `input` of the cell this data was bound to.
    pub fn input(&self, input: Handle<Input>) -> Option<&Tensor> {
        self.inputs.get(input.index())
    }

    /// The initial value of `state` of the cell this data was bound to.
    pub fn init(&self, state: Handle<State>) -> Option<&Tensor> {
        self.inits.get(state.index())
    }
}

/// The parameters in declaration order; an error for a missing or an extra one.
fn order_params(cell: &Cell, mut params: BTreeMap<String, Tensor>) -> Result<Vec<Tensor>, DataError> {
    let mut ordered = Vec::with_capacity(cell.params.len());
    for param in cell.params.values() {
        match params.remove(&param.name) {
            Some(tensor) => ordered.push(tensor),
            None => {
                return Err(DataError::MissingParam {
                    name: param.name.clone(),
                    cell: cell.name.clone(),
                    declared: param.shape.text(&cell.dims),
                });
            }
        }
    }
    if let Some((name, tensor)) = params.into_iter().next() {
        return Err(DataError::ExtraParam {
            name,
            actual: tensor.shape_text(),
            cell: cell.name.clone(),
            known: name_list(cell.params.values().map(|p| p.name.as_str())),
        });
    }
    Ok(ordered)
}

/// The inputs in declaration order; an error for an unknown, repeated or missing one.
fn order_inputs(cell: &Cell, inputs: Vec<(String, Tensor)>) -> Result<Vec<Tensor>, DataError> {
    let mut slots: Vec<Option<Tensor>> = vec![None; cell.inputs.len()];
    for (name, tensor) in inputs {
        let tensor_ref = TensorRef::new(TensorRole::Input, &name);
        let Some(input) = cell.find_input(&name) else {
            return Err(DataError::Unknown {
                tensor: tensor_ref,
                actual: tensor.shape_text(),
                cell: cell.name.clone(),
                kind: "inputs are",
                known: name_list(cell.inputs.values().map(|i| i.name.as_str())),
            });
        };
        if slots[input.index()].replace(tensor).is_some() {
            return Err(DataError::Duplicate { tensor: tensor_ref });
        }
    }
    cell.inputs
        .values()
        .zip(slots)
        .map(|(input, slot)| {
            slot.ok_or_else(|| DataError::MissingInput {
                name: input.name.clone(),
                cell: cell.name.clone(),
                size: input.size.text(&cell.dims),
            })
        })
        .collect()
}

/// The initial states in declaration order, `None` where none is given; an error for
/// a name that is not a state or is repeated.
fn order_inits(cell: &Cell, inits: Vec<(String, Tensor)>) -> Result<Vec<Option<Tensor>>, DataError> {
    let mut slots: Vec<Option<Tensor>> = vec![None; cell.states.len()];
    for (name, tensor) in inits {
        let tensor_ref = TensorRef::new(TensorRole::InitialState, &name);
        let Some(state) = cell.find_state(&name) else {
            return Err(DataError::Unknown {
                tensor: tensor_ref,
                actual: tensor.shape_text(),
                cell: cell.name.clone(),
                kind: "states are",
                known: name_list(cell.states.values().map(|s| s.name.as_str())),
            });
        };
        if slots[state.index()].replace(tensor).is_some() {
            return Err(DataError::Duplicate { tensor: tensor_ref });
        }
    }
    Ok(slots)
}

/// Refuses a tensor holding NaN or an infinity, naming the first such value's index.
pub(super) fn check_finite(role: TensorRole, name: &str, tensor: &Tensor) -> Result<(), DataError> {
    let Some(flat) = tensor.first_non_finite() else {
        return Ok(());
    };
    let index = tensor.multi_index(flat).unwrap_or_default();
    Err(DataError::NonFinite {
        tensor: TensorRef::new(role, name),
        value: tensor.data()[flat],
        index: format!("[{}]", index.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
        flat,
    })
}
