//! Before the recurrence: the input projections `W @ x` as matrix products over
//! all `B x T` rows, then the hoisting kernel, which adds what surrounds them
//! (biases, gates) and writes the hoisted values every recurrence kernel reads.

use rnnc_compiler::analyse::ProjectionKind;
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

/// One row of a launch's matrix: the product node's parameter slice `w` (the
/// row's `depth` weights), where the row's dot product starts in an input row,
/// and its column in a row of projections. Row `i` of a launch product starts at
/// `i * depth` of its parameter for both kinds; a dense row reads the input from
/// 0, a block row from its block's first channel (`i / K * K`).
pub(crate) struct LaunchRow<'a> {
    pub input: usize,
    pub input_len: usize,
    pub weights: &'a [f32],
    pub weights_offset: usize,
    pub x_start: usize,
    pub column: usize,
}

/// Every row of every launch of `layout`, over the packed parameters `params`
/// (an error when they or the inputs do not fit the plan).
pub(crate) fn launch_rows<'a>(
    layout: &CpuLayout,
    params: &'a [f32],
    inputs: &[&[f32]],
    rows: usize,
) -> Result<Vec<LaunchRow<'a>>, CpuError> {
    let mut out = Vec::new();
    for launch in &layout.plan.projections {
        let input = launch.input.index();
        let input_len = layout.inputs.get(input).copied().unwrap_or(0);
        let found = inputs.get(input).map_or(0, |x| x.len());
        if Some(found) != product(&[rows, input_len]) {
            return Err(CpuError::WrongLength { what: "a projected input", expected: rows * input_len, found });
        }
        let depth = launch.depth as usize;
        for (p, column) in launch.placed() {
            let slot = layout.params.get(p.param.index()).copied();
            let rows_of_w = p.rows as usize;
            if slot.is_none_or(|s| s.len != rows_of_w * depth || s.offset + s.len > params.len()) {
                return Err(CpuError::WrongLength {
                    what: "a projection's matrix",
                    expected: rows_of_w * depth,
                    found: slot.map_or(0, |s| s.len),
                });
            }
            let offset = slot.map_or(0, |s| s.offset);
            for i in 0..rows_of_w {
                let x_start = match launch.kind {
                    ProjectionKind::Dense => 0,
                    ProjectionKind::Block { block } => i / block as usize * block as usize,
                };
                let weights_offset = offset + i * depth;
                out.push(LaunchRow {
                    input,
                    input_len,
                    weights: &params[weights_offset..][..depth],
                    weights_offset,
                    x_start,
                    column: column as usize + i,
                });
            }
        }
    }
    Ok(out)
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
    let launch_rows = launch_rows(layout, params, inputs, rows)?;
    let shared = Shared(out.as_mut_ptr());
    let tasks = rows.div_ceil(PROJECTION_ROWS);
    run_tasks(tasks, threads, &|| Ok(()), &|_, task| {
        let (start, end) = (task * PROJECTION_ROWS, ((task + 1) * PROJECTION_ROWS).min(rows));
        // SAFETY: tasks cover disjoint rows of `out`, which outlives them.
        let block = unsafe { std::slice::from_raw_parts_mut(shared.at(start * width), (end - start) * width) };
        for w in &launch_rows {
            let x = inputs[w.input];
            for r in start..end {
                let x_row = &x[r * w.input_len + w.x_start..][..w.weights.len()];
                block[(r - start) * width + w.column] = dot(x_row, w.weights);
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
