//! After the reverse walk: the host projections' gradients as matrix products
//! over every `B x T` row (`dW += dP^T X`, `dX += dP W`), and the packed
//! results unpacked into one gradient per parameter, input and initial state.

use rnnc_compiler::backend::clif::CpuLayout;

use super::backward::Adjoints;
use super::buffers::{Shared, product, zeroed};
use super::error::CpuError;
use super::parallel::run_tasks;
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

/// Adds every host projection's `dW` to `adjoints.param_grads` and `dX` to
/// `adjoints.input_grads`, over `rows` rows.
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
    for p in &layout.projections {
        let slot = layout.params.get(p.param).copied();
        let input = inputs.get(p.input).map_or(0, |x| x.len());
        let grad = adjoints.input_grads.get(p.input).map_or(0, Vec::len);
        let fits = slot.is_some_and(|s| s.len == p.rows * p.cols && s.offset + s.len <= params.len());
        if !fits || Some(input) != product(&[rows, p.cols]) || grad != input || dp.len() != rows * width {
            return Err(CpuError::WrongLength { what: "a projected input", expected: rows * p.cols, found: input });
        }
    }
    if adjoints.param_grads.len() != params.len() {
        return Err(CpuError::WrongLength {
            what: "the parameter gradient",
            expected: params.len(),
            found: adjoints.param_grads.len(),
        });
    }
    // dW[i, c] += sum_r dP[r, i] x[r, c], tasks over blocks of rows of W.
    let weights = Shared(adjoints.param_grads.as_mut_ptr());
    let blocks: Vec<(usize, usize)> = layout
        .projections
        .iter()
        .enumerate()
        .flat_map(|(index, p)| (0..p.rows).step_by(WEIGHT_ROWS).map(move |first| (index, first)))
        .collect();
    run_tasks(blocks.len(), threads, &|| Ok(()), &|_, task| {
        let (index, first) = blocks[task];
        let p = &layout.projections[index];
        let end = (first + WEIGHT_ROWS).min(p.rows);
        let offset = layout.params[p.param].offset;
        // SAFETY: tasks own disjoint rows of W's gradient (checked in bounds above).
        let g = unsafe { std::slice::from_raw_parts_mut(weights.at(offset + first * p.cols), (end - first) * p.cols) };
        let x = inputs[p.input];
        for r in 0..rows {
            let x_row = &x[r * p.cols..][..p.cols];
            let dp_row = &dp[r * width + p.offset..][..p.rows];
            for (i, g_row) in (first..end).zip(g.chunks_exact_mut(p.cols.max(1))) {
                axpy(g_row, dp_row[i], x_row);
            }
        }
        Ok(())
    })?;
    // dX[r, c] += sum_i dP[r, i] W[i, c], tasks over blocks of rows.
    let grads: Vec<Shared> = adjoints.input_grads.iter_mut().map(|g| Shared(g.as_mut_ptr())).collect();
    run_tasks(rows.div_ceil(INPUT_ROWS), threads, &|| Ok(()), &|_, task| {
        let (start, end) = (task * INPUT_ROWS, ((task + 1) * INPUT_ROWS).min(rows));
        for p in &layout.projections {
            let w = &params[layout.params[p.param].offset..][..p.rows * p.cols];
            // SAFETY: tasks own disjoint rows of the input's gradient.
            let dx =
                unsafe { std::slice::from_raw_parts_mut(grads[p.input].at(start * p.cols), (end - start) * p.cols) };
            for (i, w_row) in w.chunks_exact(p.cols.max(1)).enumerate().take(p.rows) {
                for (r, dx_row) in (start..end).zip(dx.chunks_exact_mut(p.cols.max(1))) {
                    axpy(dx_row, dp[r * width + p.offset + i], w_row);
                }
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
