//! After the states are known: the outputs that are not states, every row of
//! every sequence independently, over threads.

use super::buffers::{Shared, product, zeroed};
use super::error::CpuError;
use super::parallel::run_tasks;
use super::run::{Previous, Run, StepCall};

/// Rows per task.
const OUTPUT_ROWS: usize = 1024;

/// The outputs kernel's rows `[B, T, output_width]` (empty without one), from
/// the solved state rows `states`.
pub(crate) fn outputs(run: &Run<'_>, states: &[f32]) -> Result<Vec<f32>, CpuError> {
    let layout = &run.jit.layout;
    let Some(kernel) = run.jit.outputs else { return Ok(Vec::new()) };
    let (width, out_width) = (layout.state_width, layout.output_width);
    let mut out = zeroed("the outputs", product(&[run.batch, run.steps, out_width]))?;
    let shared = Shared(out.as_mut_ptr());
    let per_sequence = run.steps.div_ceil(OUTPUT_ROWS);
    let states = Shared(states.as_ptr().cast_mut());
    run_tasks(
        run.batch * per_sequence,
        run.threads,
        &|| zeroed("kernel scratch", Some(layout.scratch_len)),
        &|scratch, task| {
            let (b, chunk) = (task / per_sequence, task % per_sequence);
            let (first, end) = (chunk * OUTPUT_ROWS, ((chunk + 1) * OUTPUT_ROWS).min(run.steps));
            let row = b * run.steps + first;
            let previous = Previous::Chain {
                first: if first == 0 { run.init_row(b) } else { states.at((row - 1) * width).cast_const() },
                rows: states.at(row * width).cast_const(),
            };
            let call = StepCall {
                pre: run.pre_row(b, first),
                previous,
                out: Shared(shared.at(row * out_width)),
                jac: None,
                rows: end - first,
                channels: (0, 0),
                scratch: scratch.as_mut_ptr(),
            };
            // SAFETY: rows `first..end` of sequence `b` exist in every buffer; the
            // states are only read; tasks write disjoint rows of `out`.
            unsafe { run.step(kernel, call) };
            Ok(())
        },
    )?;
    Ok(out)
}
