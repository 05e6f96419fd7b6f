//! Before the recurrence: the input projections `W @ x` as matrix products over
//! all `B x T` rows, then the hoisting kernel, which adds what surrounds them
//! (biases, gates) and writes the hoisted values every recurrence kernel reads.

use rnnc_compiler::backend::clif::CpuLayout;

use super::buffers::{Shared, product, zeroed};
use super::error::CpuError;
use super::jit::{Jit, KernelArgs};
use super::parallel::run_tasks;

/// Rows of the inputs per projection task: a block of `x` rows stays in cache
/// while every row of `W` streams past it once.
const PROJECTION_ROWS: usize = 64;
/// Rows per hoisting-kernel task.
const HOIST_ROWS: usize = 256;

/// `a . b` with eight partial sums (vectorised by rustc).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut partial = [0.0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let (a_rest, b_rest) = (a_chunks.remainder(), b_chunks.remainder());
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..8 {
            partial[lane] += x[lane] * y[lane];
        }
    }
    let mut sum: f32 = partial.iter().sum();
    for (x, y) in a_rest.iter().zip(b_rest) {
        sum += x * y;
    }
    sum
}

/// Every input projection for `rows` rows: `[rows, projection_width]`.
fn projections(
    layout: &CpuLayout,
    params: &[f32],
    inputs: &[&[f32]],
    rows: usize,
    threads: usize,
) -> Result<Vec<f32>, CpuError> {
    let width = layout.projection_width;
    let mut out = zeroed("the input projections", product(&[rows, width]))?;
    for p in &layout.projections {
        let matrix = layout.params.get(p.param).map(|s| s.len).unwrap_or(0);
        let input = inputs.get(p.input).map_or(0, |x| x.len());
        if matrix != p.rows * p.cols || input != rows * p.cols {
            return Err(CpuError::WrongLength { what: "a projected input", expected: rows * p.cols, found: input });
        }
    }
    let shared = Shared(out.as_mut_ptr());
    let tasks = rows.div_ceil(PROJECTION_ROWS);
    run_tasks(tasks, threads, &|| Ok(()), &|_, task| {
        let (start, end) = (task * PROJECTION_ROWS, ((task + 1) * PROJECTION_ROWS).min(rows));
        // SAFETY: tasks cover disjoint rows of `out`, which outlives them.
        let block = unsafe { std::slice::from_raw_parts_mut(shared.at(start * width), (end - start) * width) };
        for p in &layout.projections {
            let w = &params[layout.params[p.param].offset..][..p.rows * p.cols];
            let x = inputs[p.input];
            for (i, w_row) in w.chunks_exact(p.cols.max(1)).enumerate().take(p.rows) {
                for r in start..end {
                    block[(r - start) * width + p.offset + i] = dot(&x[r * p.cols..][..p.cols], w_row);
                }
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// The hoisted values of every row, `[rows, pre_width]` (empty when the cell
/// hoists nothing). `inputs` are `[rows, D]` each.
pub(crate) fn hoist(
    jit: &Jit,
    params: &[f32],
    inputs: &[&[f32]],
    rows: usize,
    threads: usize,
) -> Result<Vec<f32>, CpuError> {
    Ok(hoist_keeping_projections(jit, params, inputs, rows, threads)?.1)
}

/// [`hoist`], also returning the input projections `[rows, projection_width]`
/// (which a backward pass reads): `(projections, hoisted values)`.
pub(crate) fn hoist_keeping_projections(
    jit: &Jit,
    params: &[f32],
    inputs: &[&[f32]],
    rows: usize,
    threads: usize,
) -> Result<(Vec<f32>, Vec<f32>), CpuError> {
    let layout = &jit.layout;
    let Some(kernel) = jit.hoist else { return Ok((Vec::new(), Vec::new())) };
    if params.len() != layout.params_len {
        return Err(CpuError::WrongLength { what: "the parameters", expected: layout.params_len, found: params.len() });
    }
    for (input, &width) in inputs.iter().zip(&layout.inputs) {
        if Some(input.len()) != product(&[rows, width]) {
            return Err(CpuError::WrongLength { what: "an input", expected: rows * width, found: input.len() });
        }
    }
    if inputs.len() != layout.inputs.len() {
        return Err(CpuError::WrongLength { what: "the inputs", expected: layout.inputs.len(), found: inputs.len() });
    }
    let projected = projections(layout, params, inputs, rows, threads)?;
    let mut pre = zeroed("the hoisted values", product(&[rows, layout.pre_width]))?;
    let shared = Shared(pre.as_mut_ptr());
    let tasks = rows.div_ceil(HOIST_ROWS);
    run_tasks(tasks, threads, &|| zeroed("kernel scratch", Some(layout.scratch_len)), &|scratch, task| {
        let (start, end) = (task * HOIST_ROWS, ((task + 1) * HOIST_ROWS).min(rows));
        let table: Vec<*const f32> =
            inputs.iter().zip(&layout.inputs).map(|(x, &width)| x.as_ptr().wrapping_add(start * width)).collect();
        let args = KernelArgs {
            params: params.as_ptr(),
            consts: layout.consts.as_ptr(),
            pre: projected.as_ptr().wrapping_add(start * layout.projection_width),
            out: shared.at(start * layout.pre_width),
            rows: (end - start) as i64,
            scratch: scratch.as_mut_ptr(),
            inputs: table.as_ptr(),
            ..KernelArgs::EMPTY
        };
        // SAFETY: rows `start..end` of the projections, the inputs and the
        // hoisted values exist (lengths checked above); tasks write disjoint rows.
        unsafe { kernel.call(&args) };
        Ok(())
    })?;
    Ok((projected, pre))
}
