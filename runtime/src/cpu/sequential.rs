//! The sequential method: one step after another, each sequence (or, for
//! channel-split cells, each range of channels of it) on one thread.

use super::buffers::{Shared, zeroed};
use super::error::CpuError;
use super::parallel::{channel_ranges, run_tasks};
use super::run::{Previous, Run, StepCall};

/// Runs every sequence, writing the state rows `states` (`[B, T, N]`).
pub(crate) fn sequential(run: &Run<'_>, states: &mut [f32]) -> Result<(), CpuError> {
    let layout = &run.jit.layout;
    let width = layout.state_width;
    let channels = layout.states.first().map_or(0, |s| s.len);
    let ranges = channel_ranges(layout.split, channels, run.batch, run.threads);
    let shared = Shared(states.as_mut_ptr());
    let tasks = run.batch * ranges.len();
    run_tasks(tasks, run.threads, &|| zeroed("kernel scratch", Some(layout.scratch_len)), &|scratch, task| {
        let (b, range) = (task / ranges.len(), ranges[task % ranges.len()]);
        let rows = shared.at(b * run.steps * width);
        let call = StepCall {
            pre: run.pre_row(b, 0),
            previous: Previous::Chain { first: run.init_row(b), rows: rows.cast_const() },
            out: Shared(rows),
            jac: None,
            rows: run.steps,
            channels: range,
            scratch: scratch.as_mut_ptr(),
        };
        // SAFETY: sequence `b` has `steps` rows of hoisted values and states;
        // tasks write disjoint sequences or channel ranges.
        unsafe { run.step(run.jit.states, call) };
        Ok(())
    })?;
    Ok(())
}
