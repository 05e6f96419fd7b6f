//! After the reverse walk: the projections' gradients as matrix products
//! over every `B x T` row (`dW += dP^T X`, `dX += dP W`), and the packed
//! results unpacked into one gradient per parameter, input and initial state.

use rnnc_compiler::backend::clif::CpuLayout;

use super::backward::Adjoints;
use super::buffers::{Shared, product, zeroed};
use super::error::CpuError;
use super::parallel::run_tasks;
use super::project::launch_rows;
use crate::solve::GradientBuffers;

/// Rows of `W` per task of `dW`: their gradient rows stay in cache while every
/// input row streams past.
const WEIGHT_ROWS: usize = 16;
/// Input rows per task of `dX`: each row of `W` is read once per block.
const INPUT_ROWS: usize = 16;

/// `y += a x`.
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// Adds every projection's `dW` to `adjoints.param_grads` and `dX` to
/// `adjoints.input_grads`, over `rows` rows (the plan's launches, row by row of
/// their matrices: see [`launch_rows`]).
pub(crate) fn project_back(
    layout: &CpuLayout,
    params: &[f32],
    inputs: &[&[f32]],
    adjoints: &mut Adjoints,
    rows: usize,
    threads: usize,
) -> Result<(), CpuError> {
    let width = layout.projection_width;
    let dp = &adjoints.projection_grads;
    let launch_rows = launch_rows(layout, params, inputs, rows)?;
    for w in &launch_rows {
        let grad = adjoints.input_grads.get(w.input).map_or(0, Vec::len);
        if grad != rows * w.input_len || dp.len() != rows * width {
            return Err(CpuError::WrongLength {
                what: "a projected input's gradient",
                expected: rows * w.input_len,
                found: grad,
            });
        }
    }
    if adjoints.param_grads.len() != params.len() {
        return Err(CpuError::WrongLength {
            what: "the parameter gradient",
            expected: params.len(),
            found: adjoints.param_grads.len(),
        });
    }
    // dW[i, .] += sum_r dP[r, i] x[r, start ..], tasks over blocks of rows of W.
    let weights = Shared(adjoints.param_grads.as_mut_ptr());
    run_tasks(launch_rows.len().div_ceil(WEIGHT_ROWS), threads, &|| Ok(()), &|_, task| {
        for w in &launch_rows[task * WEIGHT_ROWS..((task + 1) * WEIGHT_ROWS).min(launch_rows.len())] {
            let depth = w.weights.len();
            // SAFETY: every launch row owns its own words of the gradient (checked
            // in bounds above), and tasks own disjoint launch rows.
            let g = unsafe { std::slice::from_raw_parts_mut(weights.at(w.weights_offset), depth) };
            let x = inputs[w.input];
            for r in 0..rows {
                axpy(g, dp[r * width + w.column], &x[r * w.input_len + w.x_start..][..depth]);
            }
        }
        Ok(())
    })?;
    // dX[r, start ..] += sum_i dP[r, i] W[i, .], tasks over blocks of rows.
    let grads: Vec<Shared> = adjoints.input_grads.iter_mut().map(|g| Shared(g.as_mut_ptr())).collect();
    run_tasks(rows.div_ceil(INPUT_ROWS), threads, &|| Ok(()), &|_, task| {
        let (start, end) = (task * INPUT_ROWS, ((task + 1) * INPUT_ROWS).min(rows));
        for w in &launch_rows {
            let depth = w.weights.len();
            for r in start..end {
                // SAFETY: tasks own disjoint rows of the input's gradient.
                let dx =
                    unsafe { std::slice::from_raw_parts_mut(grads[w.input].at(r * w.input_len + w.x_start), depth) };
                axpy(dx, dp[r * width + w.column], w.weights);
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// The gradients per tensor: each parameter's slice of the packed gradient,
/// each input's cotangent, and each initial state's (row 0 of every sequence
/// of the state cotangents; zero when the sequences are empty).
pub(crate) fn unpack(
    layout: &CpuLayout,
    adjoints: Adjoints,
    batch: usize,
    steps: usize,
) -> Result<GradientBuffers, CpuError> {
    let params = layout.params.iter().map(|slot| adjoints.param_grads[slot.offset..][..slot.len].to_vec()).collect();
    let width = layout.state_width;
    let mut inits = Vec::with_capacity(layout.states.len());
    for slot in &layout.states {
        let mut init = zeroed("an initial state's gradient", product(&[batch, slot.len]))?;
        if steps > 0 {
            for (b, values) in init.chunks_exact_mut(slot.len.max(1)).enumerate().take(batch) {
                values.copy_from_slice(&adjoints.mu[b * steps * width + slot.offset..][..slot.len]);
            }
        }
        inits.push(init);
    }
    Ok(GradientBuffers { params, inputs: adjoints.input_grads, inits })
}
