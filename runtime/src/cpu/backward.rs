//! The backward pass's reverse walk: the backward kernel over every sequence,
//! from its last step to its first, each sequence (or, for channel-split
//! kernels, each range of channels of it) on one thread; or, when those units
//! of work leave threads idle, the time-parallel reverse scan of
//! [`reverse_scan`] over chunks of each unit's rows.
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
use super::reverse_scan;
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

/// Rows `first..end` of sequence `b`, channels `range`: what one call of the
/// backward kernel walks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stretch {
    pub b: usize,
    pub range: (usize, usize),
    pub first: usize,
    pub end: usize,
}

/// Everything a reverse walk reads, and the cotangent buffers it writes
/// (disjoint parts from each thread).
pub(crate) struct Walk<'a> {
    pub run: &'a Run<'a>,
    pub kernel: Kernel,
    pub backward: &'a BackwardLayout,
    pub given: &'a Cotangents<'a>,
    mu: Shared,
    projection_grads: Shared,
    input_grads: Vec<Shared>,
    /// A zero state row: `mu_T`.
    pub zero_row: Vec<f32>,
}

impl Walk<'_> {
    /// Row `t` of sequence `b` of the state cotangents.
    pub fn mu_row(&self, b: usize, t: usize) -> *mut f32 {
        self.mu.at((b * self.run.steps + t) * self.run.jit.layout.state_width)
    }

    /// Row `t` of sequence `b` of the solved states.
    pub fn state_row(&self, b: usize, t: usize) -> *const f32 {
        self.given.states.as_ptr().wrapping_add((b * self.run.steps + t) * self.run.jit.layout.state_width)
    }

    /// The state before row `t` of sequence `b`.
    pub fn previous_state(&self, b: usize, t: usize) -> *const f32 {
        if t == 0 { self.run.init_row(b) } else { self.state_row(b, t - 1) }
    }

    /// Runs the backward kernel over `stretch`, from its last row to its first,
    /// with `seed` the state cotangent entering its last row: writes the
    /// stretch's rows of every cotangent and adds the parameters' shares to
    /// `param_grads`.
    ///
    /// # Safety
    /// The stretch must lie in the run (`first <= end <= steps`, `b < batch`,
    /// `range` a valid channel range of the kernel), `seed` must hold one state
    /// row, `scratch` `scratch_len` floats and `param_grads` `params_len`
    /// floats, none touched by another thread, and no other thread may write
    /// the stretch's rows and channels.
    pub unsafe fn walk(&self, stretch: &Stretch, seed: *const f32, scratch: *mut f32, param_grads: *mut f32) {
        let (run, layout) = (self.run, &self.run.jit.layout);
        let (width, projection_width) = (layout.state_width, layout.projection_width);
        let row = stretch.b * run.steps + stretch.first;
        let at = |values: &[f32], len: usize| values.as_ptr().wrapping_add(row * len);
        let given = self.given;
        let inputs: Vec<*const f32> = given.inputs.iter().zip(&layout.inputs).map(|(x, &len)| at(x, len)).collect();
        let douts: Vec<*const f32> = given.douts.iter().zip(&self.backward.douts).map(|(d, &len)| at(d, len)).collect();
        let input_grads: Vec<*mut f32> =
            self.input_grads.iter().zip(&layout.inputs).map(|(g, &len)| g.at(row * len)).collect();
        let args = KernelArgs {
            params: run.params.as_ptr(),
            consts: layout.consts.as_ptr(),
            pre: run.pre_row(stretch.b, stretch.first),
            prev_first: self.previous_state(stretch.b, stretch.first),
            prev_base: self.state_row(stretch.b, stretch.first),
            prev_stride: width as i64,
            out: self.mu.at(row * width),
            rows: (stretch.end - stretch.first) as i64,
            scratch,
            channel_start: stretch.range.0 as i64,
            channel_end: stretch.range.1 as i64,
            inputs: inputs.as_ptr(),
            seed_last: seed,
            douts: douts.as_ptr(),
            projections: at(given.projected, projection_width),
            projection_grads: self.projection_grads.at(row * projection_width),
            input_grads: input_grads.as_ptr(),
            param_grads,
            jac: std::ptr::null_mut(),
        };
        // SAFETY: every buffer holds the rows of sequence `b` (lengths checked
        // by `reverse`); the caller guarantees the stretch, the seed and that
        // no other thread writes what this call writes.
        unsafe { self.kernel.call(&args) };
    }
}

/// Checks the lengths of everything `reverse` reads.
fn check(run: &Run<'_>, backward: &BackwardLayout, given: &Cotangents<'_>, rows: usize) -> Result<(), CpuError> {
    let layout = &run.jit.layout;
    expect("the states", product(&[rows, layout.state_width]), given.states.len())?;
    expect("the output cotangents", Some(backward.douts.len()), given.douts.len())?;
    for (dout, &len) in given.douts.iter().zip(&backward.douts) {
        expect("an output cotangent", product(&[rows, len]), dout.len())?;
    }
    expect("the inputs", Some(layout.inputs.len()), given.inputs.len())?;
    for (input, &len) in given.inputs.iter().zip(&layout.inputs) {
        expect("an input", product(&[rows, len]), input.len())?;
    }
    expect("the input projections", product(&[rows, layout.projection_width]), given.projected.len())?;
    expect("the hoisted values", product(&[rows, layout.pre_width]), run.pre.len())?;
    expect("the initial states", product(&[run.batch, layout.state_width]), run.init.len())?;
    expect("the parameters", Some(layout.params_len), run.params.len())
}

/// Runs `kernel` (the backward kernel, laid out by `backward`) over every
/// sequence of `run`: walked sequentially per unit of work, or as a reverse
/// scan over chunks of `chunk_len` rows (`None`: chosen by
/// [`reverse_scan::chunks`]) when units have spare threads.
pub(crate) fn reverse(
    run: &Run<'_>,
    kernel: Kernel,
    backward: &BackwardLayout,
    given: &Cotangents<'_>,
    chunk_len: Option<usize>,
) -> Result<Adjoints, CpuError> {
    let layout = &run.jit.layout;
    let (width, projection_width) = (layout.state_width, layout.projection_width);
    let rows =
        product(&[run.batch, run.steps]).ok_or(CpuError::OutOfMemory { what: "the rows", floats: "B x T".into() })?;
    check(run, backward, given, rows)?;
    let mut mu = zeroed("the state cotangents", product(&[rows, width]))?;
    let mut projection_grads = zeroed("the projection cotangents", product(&[rows, projection_width]))?;
    let mut input_grads = layout
        .inputs
        .iter()
        .map(|&len| zeroed("an input's cotangent", product(&[rows, len])))
        .collect::<Result<Vec<_>, _>>()?;
    let walk = Walk {
        run,
        kernel,
        backward,
        given,
        mu: Shared(mu.as_mut_ptr()),
        projection_grads: Shared(projection_grads.as_mut_ptr()),
        input_grads: input_grads.iter_mut().map(|g| Shared(g.as_mut_ptr())).collect(),
        zero_row: zeroed("the last state cotangent", Some(width))?,
    };
    let channels = layout.states.first().map_or(0, |s| s.len);
    let ranges = channel_ranges(backward.split, channels, run.batch, run.threads);
    let chunks = reverse_scan::chunks(run.jit, run.threads, run.batch * ranges.len(), run.steps, chunk_len);
    let grads = if chunks > 1 { reverse_scan::scan(&walk, &ranges, chunks)? } else { sequential_walk(&walk, &ranges)? };
    let mut param_grads = zeroed("the parameter gradient", Some(layout.params_len))?;
    for grad in grads {
        for (sum, value) in param_grads.iter_mut().zip(&grad) {
            *sum += value;
        }
    }
    Ok(Adjoints { mu, projection_grads, input_grads, param_grads })
}

/// The sequential reverse walk: each unit (sequence, channel range) on one
/// thread, from its last row to its first. The parameter gradient of each
/// thread.
fn sequential_walk(walk: &Walk<'_>, ranges: &[(usize, usize)]) -> Result<Vec<Vec<f32>>, CpuError> {
    let (run, layout) = (walk.run, &walk.run.jit.layout);
    let tasks = if run.steps == 0 { 0 } else { run.batch * ranges.len() };
    let init = || -> Result<Workspace, CpuError> {
        Ok(Workspace {
            scratch: zeroed("kernel scratch", Some(layout.scratch_len))?,
            grads: zeroed("the parameter gradient", Some(layout.params_len))?,
        })
    };
    let workers = run_workers(tasks, run.threads, &init, &|workspace, task| {
        let (b, range) = (task / ranges.len(), ranges[task % ranges.len()]);
        let stretch = Stretch { b, range, first: 0, end: run.steps };
        // SAFETY: the whole sequence `b` lies in the run; tasks write disjoint
        // sequences or channel ranges, and each thread its own workspace.
        unsafe {
            walk.walk(&stretch, walk.zero_row.as_ptr(), workspace.scratch.as_mut_ptr(), workspace.grads.as_mut_ptr())
        };
        Ok(())
    })?;
    Ok(workers.into_iter().map(|w| w.grads).collect())
}
