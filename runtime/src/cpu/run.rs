//! One forward run's shared inputs, and the calls of the recurrence kernels over
//! a stretch of rows of one sequence.

use super::buffers::Shared;
use super::jit::{Jit, Kernel, KernelArgs};

/// What every part of a forward run reads.
pub(crate) struct Run<'a> {
    pub jit: &'a Jit,
    /// The packed parameters.
    pub params: &'a [f32],
    /// The hoisted values, `[B, T, pre_width]`.
    pub pre: &'a [f32],
    /// The initial states, `[B, N]`.
    pub init: &'a [f32],
    pub batch: usize,
    pub steps: usize,
    pub threads: usize,
    /// Newton's segment length, if fixed.
    pub segment: Option<usize>,
}

/// Where a stretch of rows of one sequence reads its previous states.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Previous {
    /// Every row from this one state (the initial guess of a segment).
    Fixed(*const f32),
    /// Row 0 from `first`, later rows from the row before them in `rows`.
    Chain { first: *const f32, rows: *const f32 },
}

/// One call of a recurrence kernel: rows `0..rows` from `pre` (a row of the
/// hoisted values), writing `out` (state rows) and `jac` (Jacobian rows).
#[derive(Clone, Copy, Debug)]
pub(crate) struct StepCall {
    pub pre: *const f32,
    pub previous: Previous,
    pub out: Shared,
    pub jac: Option<Shared>,
    pub rows: usize,
    pub channels: (usize, usize),
    pub scratch: *mut f32,
}

impl Run<'_> {
    /// Row `t` of sequence `b` of the hoisted values.
    pub fn pre_row(&self, b: usize, t: usize) -> *const f32 {
        self.pre.as_ptr().wrapping_add((b * self.steps + t) * self.jit.layout.pre_width)
    }

    /// The initial state of sequence `b`.
    pub fn init_row(&self, b: usize) -> *const f32 {
        self.init.as_ptr().wrapping_add(b * self.jit.layout.state_width)
    }

    /// Runs `kernel` as `call` says.
    ///
    /// # Safety
    /// The pointers of `call` must hold the rows the kernel reads and writes (see
    /// [`Kernel::call`]), and no other thread may write the channels
    /// `call.channels` of those rows while it runs.
    pub unsafe fn step(&self, kernel: Kernel, call: StepCall) {
        let layout = &self.jit.layout;
        let (prev_first, prev_base, prev_stride) = match call.previous {
            Previous::Fixed(state) => (state, state, 0),
            Previous::Chain { first, rows } => (first, rows, layout.state_width as i64),
        };
        let args = KernelArgs {
            params: self.params.as_ptr(),
            consts: layout.consts.as_ptr(),
            pre: call.pre,
            prev_first,
            prev_base,
            prev_stride,
            out: call.out.0,
            jac: call.jac.map_or(std::ptr::null_mut(), |j| j.0),
            rows: call.rows as i64,
            scratch: call.scratch,
            channel_start: call.channels.0 as i64,
            channel_end: call.channels.1 as i64,
            ..KernelArgs::EMPTY
        };
        // SAFETY: the caller upholds the contract of `Kernel::call`.
        unsafe { kernel.call(&args) }
    }
}
