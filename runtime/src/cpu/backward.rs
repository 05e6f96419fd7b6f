//! The backward pass's reverse walk: the backward kernel over every sequence,
//! from its last step to its first, each sequence (or, for channel-split
//! kernels, each range of channels of it) on one thread.
//!
//! The walk runs the adjoint recurrence `mu_{t-1} = J_t^T mu_t + g_t` from
//! `mu_T = 0`; per step the kernel recomputes the step's values from the solved
//! states, writes `mu_{t-1}`, the host projections' and the inputs' cotangents,
//! and adds the parameters' shares to its thread's gradient, which are summed
//! at the end.

use rnnc_compiler::backend::clif::BackwardLayout;

use super::buffers::{Shared, product, zeroed};
use super::error::CpuError;
use super::jit::{Kernel, KernelArgs};
use super::parallel::{channel_ranges, run_workers};
use super::run::Run;

/// What the reverse walk reads besides the forward run's buffers.
pub(crate) struct Cotangents<'a> {
    /// The input projections, `[B, T, projection_width]`.
    pub projected: &'a [f32],
    /// Each input, `[B, T, D]`.
    pub inputs: &'a [&'a [f32]],
    /// Each output's cotangent, `[B, T, size]`.
    pub douts: &'a [&'a [f32]],
    /// The solved states, `[B, T, N]`.
    pub states: &'a [f32],
}

/// What the reverse walk computes.
pub(crate) struct Adjoints {
    /// `[B, T, N]`: row `t` of a sequence is the cotangent of the state before
    /// step `t` (row 0: the initial state's gradient).
    pub mu: Vec<f32>,
    /// The host projections' cotangents, `[B, T, projection_width]`.
    pub projection_grads: Vec<f32>,
    /// Each input's cotangent through its elementwise uses and the projections
    /// the kernel handles itself, `[B, T, D]`.
    pub input_grads: Vec<Vec<f32>>,
    /// The parameter gradient from vector parameters and matrix uses inside the
    /// step, packed like the parameters.
    pub param_grads: Vec<f32>,
}

struct Workspace {
    scratch: Vec<f32>,
    grads: Vec<f32>,
}

fn expect(what: &'static str, expected: Option<usize>, found: usize) -> Result<(), CpuError> {
    match expected {
        Some(expected) if expected == found => Ok(()),
        expected => Err(CpuError::WrongLength { what, expected: expected.unwrap_or(usize::MAX), found }),
    }
}

/// Runs `kernel` (the backward kernel, laid out by `backward`) over every
/// sequence of `run`.
pub(crate) fn reverse(
    run: &Run<'_>,
    kernel: Kernel,
    backward: &BackwardLayout,
    given: &Cotangents<'_>,
) -> Result<Adjoints, CpuError> {
    let layout = &run.jit.layout;
    let (width, projection_width) = (layout.state_width, layout.projection_width);
    let (batch, steps) = (run.batch, run.steps);
    let rows = product(&[batch, steps]).ok_or(CpuError::OutOfMemory { what: "the rows", floats: "B x T".into() })?;
    expect("the states", product(&[rows, width]), given.states.len())?;
    expect("the output cotangents", Some(backward.douts.len()), given.douts.len())?;
    for (dout, &len) in given.douts.iter().zip(&backward.douts) {
        expect("an output cotangent", product(&[rows, len]), dout.len())?;
    }
    expect("the inputs", Some(layout.inputs.len()), given.inputs.len())?;
    for (input, &len) in given.inputs.iter().zip(&layout.inputs) {
        expect("an input", product(&[rows, len]), input.len())?;
    }
    expect("the input projections", product(&[rows, projection_width]), given.projected.len())?;
    expect("the hoisted values", product(&[rows, layout.pre_width]), run.pre.len())?;
    expect("the initial states", product(&[batch, width]), run.init.len())?;
    expect("the parameters", Some(layout.params_len), run.params.len())?;

    let mut mu = zeroed("the state cotangents", product(&[rows, width]))?;
    let mut projection_grads = zeroed("the projection cotangents", product(&[rows, projection_width]))?;
    let mut input_grads = layout
        .inputs
        .iter()
        .map(|&len| zeroed("an input's cotangent", product(&[rows, len])))
        .collect::<Result<Vec<_>, _>>()?;
    let zero_row = zeroed("the last state cotangent", Some(width))?;
    let (mu_out, dp_out) = (Shared(mu.as_mut_ptr()), Shared(projection_grads.as_mut_ptr()));
    let dx_out: Vec<Shared> = input_grads.iter_mut().map(|g| Shared(g.as_mut_ptr())).collect();
    let states = Shared(given.states.as_ptr().cast_mut());
    let channels = layout.states.first().map_or(0, |s| s.len);
    let ranges = channel_ranges(backward.split, channels, batch, run.threads);
    let tasks = if steps == 0 { 0 } else { batch * ranges.len() };
    let init = || -> Result<Workspace, CpuError> {
        Ok(Workspace {
            scratch: zeroed("kernel scratch", Some(layout.scratch_len))?,
            grads: zeroed("the parameter gradient", Some(layout.params_len))?,
        })
    };
    let workers = run_workers(tasks, run.threads, &init, &|workspace, task| {
        let (b, range) = (task / ranges.len(), ranges[task % ranges.len()]);
        let first = b * steps;
        let at = |values: &[f32], len: usize| values.as_ptr().wrapping_add(first * len);
        let inputs: Vec<*const f32> = given.inputs.iter().zip(&layout.inputs).map(|(x, &len)| at(x, len)).collect();
        let douts: Vec<*const f32> = given.douts.iter().zip(&backward.douts).map(|(d, &len)| at(d, len)).collect();
        let input_grads: Vec<*mut f32> = dx_out.iter().zip(&layout.inputs).map(|(g, &len)| g.at(first * len)).collect();
        let args = KernelArgs {
            params: run.params.as_ptr(),
            consts: layout.consts.as_ptr(),
            pre: run.pre_row(b, 0),
            prev_first: run.init_row(b),
            prev_base: states.at(first * width).cast_const(),
            prev_stride: width as i64,
            out: mu_out.at(first * width),
            rows: steps as i64,
            scratch: workspace.scratch.as_mut_ptr(),
            channel_start: range.0 as i64,
            channel_end: range.1 as i64,
            inputs: inputs.as_ptr(),
            seed_last: zero_row.as_ptr(),
            douts: douts.as_ptr(),
            projections: at(given.projected, projection_width),
            projection_grads: dp_out.at(first * projection_width),
            input_grads: input_grads.as_ptr(),
            param_grads: workspace.grads.as_mut_ptr(),
            jac: std::ptr::null_mut(),
        };
        // SAFETY: every buffer holds the `steps` rows of sequence `b` (lengths
        // checked above); tasks write disjoint sequences or channel ranges of the
        // cotangent rows, and each thread its own parameter gradient.
        unsafe { kernel.call(&args) };
        Ok(())
    })?;
    let mut param_grads = zeroed("the parameter gradient", Some(layout.params_len))?;
    for worker in workers {
        for (sum, value) in param_grads.iter_mut().zip(&worker.grads) {
            *sum += value;
        }
    }
    Ok(Adjoints { mu, projection_grads, input_grads, param_grads })
}
