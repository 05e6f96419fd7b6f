//! Host buffers of a run: allocation that fails as a value, the packed
//! parameters and initial states, pointers shared between threads, and the
//! output tensors.

use rnnc_compiler::backend::clif::{CpuLayout, OutputSource};

use super::error::CpuError;
use crate::data::BoundData;

/// `count` zeros, or an error if they do not fit.
pub(crate) fn zeroed(what: &'static str, count: Option<usize>) -> Result<Vec<f32>, CpuError> {
    let count = count.ok_or_else(|| CpuError::OutOfMemory { what, floats: "more than 2^64".to_owned() })?;
    let mut buffer = Vec::new();
    buffer.try_reserve_exact(count).map_err(|_| CpuError::OutOfMemory { what, floats: count.to_string() })?;
    buffer.resize(count, 0.0);
    Ok(buffer)
}

/// `a * b * c`, if it fits.
pub(crate) fn product(factors: &[usize]) -> Option<usize> {
    factors.iter().try_fold(1usize, |acc, &f| acc.checked_mul(f))
}

/// Every parameter of `data`, packed as `layout.params` says.
pub(crate) fn pack_params(layout: &CpuLayout, data: &BoundData) -> Result<Vec<f32>, CpuError> {
    let mut packed = zeroed("the parameters", Some(layout.params_len))?;
    if data.params().len() != layout.params.len() {
        return Err(CpuError::WrongLength {
            what: "the parameter list",
            expected: layout.params.len(),
            found: data.params().len(),
        });
    }
    for (slot, tensor) in layout.params.iter().zip(data.params()) {
        if tensor.len() != slot.len {
            return Err(CpuError::WrongLength { what: "a parameter", expected: slot.len, found: tensor.len() });
        }
        packed[slot.offset..slot.offset + slot.len].copy_from_slice(tensor.data());
    }
    Ok(packed)
}

/// The initial states of `data` as `[B, N]` state rows.
pub(crate) fn pack_inits(layout: &CpuLayout, data: &BoundData) -> Result<Vec<f32>, CpuError> {
    let batch = data.batch();
    let width = layout.state_width;
    let mut rows = zeroed("the initial states", product(&[batch, width]))?;
    for (slot, tensor) in layout.states.iter().zip(data.inits()) {
        if tensor.len() != batch * slot.len {
            return Err(CpuError::WrongLength {
                what: "an initial state",
                expected: batch * slot.len,
                found: tensor.len(),
            });
        }
        for b in 0..batch {
            rows[b * width + slot.offset..][..slot.len].copy_from_slice(&tensor.data()[b * slot.len..][..slot.len]);
        }
    }
    Ok(rows)
}

/// One `[B, T, size]` buffer per output of the cell, from the state rows
/// (`[B, T, N]`) and the rows of the outputs kernel (`[B, T, output_width]`).
pub(crate) fn assemble_outputs(
    layout: &CpuLayout,
    rows: usize,
    mut states: Vec<f32>,
    computed: &[f32],
) -> Result<Vec<Vec<f32>>, CpuError> {
    let only_state =
        layout.states.len() == 1 && layout.outputs.iter().filter(|o| matches!(o, OutputSource::State(_))).count() == 1;
    let mut outputs = Vec::with_capacity(layout.outputs.len());
    for source in &layout.outputs {
        let (all, width, slot): (&[f32], usize, _) = match *source {
            OutputSource::State(i) => {
                let slot = layout.states.get(i).copied().ok_or(CpuError::WrongLength {
                    what: "the states",
                    expected: i + 1,
                    found: layout.states.len(),
                })?;
                if only_state {
                    outputs.push(std::mem::take(&mut states));
                    continue;
                }
                (&states, layout.state_width, slot)
            }
            OutputSource::Computed(slot) => (computed, layout.output_width, slot),
        };
        let mut output = zeroed("an output", product(&[rows, slot.len]))?;
        for (row, values) in output.chunks_exact_mut(slot.len.max(1)).enumerate().take(rows) {
            values.copy_from_slice(&all[row * width + slot.offset..][..slot.len]);
        }
        outputs.push(output);
    }
    Ok(outputs)
}

/// A pointer into a buffer that several threads write disjoint parts of.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shared(pub *mut f32);

// SAFETY: `Shared` is only used to hand threads pointers to disjoint parts of one
// buffer that outlives them (see each use).
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    /// The pointer `floats` floats further.
    pub fn at(self, floats: usize) -> *mut f32 {
        self.0.wrapping_add(floats)
    }
}
