//! Newton's method over the sequence (DEER, ParaRNN), per unit: one sequence, or
//! one range of channels of it when the kernels are channel-split.
//!
//! The sequence is cut into segments of at most `segment` steps (so that the step
//! values and Jacobians of a segment fit a fixed memory budget), solved in order,
//! each from the last state of the one before. Per segment: the initial guess
//! `h_t = f(h_start, x_t)` for every step; then each iteration linearises every
//! step at the current trajectory (the linearisation kernel gives `f_t` and
//! `J_t`) and solves the linear recurrence exactly ([`super::scan`]). It stops
//! when `|d| <= atol + rtol |h|` for every element (DEER's test, element by
//! element, so that a growing state cannot hide early errors). A non-finite update or
//! an update that grew twice restarts the segment from its guess with damped
//! Newton (the Jacobians scaled by `1 / (1 + lambda)`: `scan`'s `scale`); the
//! rules are `SegmentIteration::decide`'s, which the GPU kernel mirrors. The
//! iteration cap (plain, or damped) sends the segment to the sequential method
//! instead (exact), and the report counts it and the damped iterations, as the
//! GPU does.
//! For a cell linear in its states (`scan`), the first iteration's linear
//! recurrence is the cell itself: that one iteration is the exact solution, and
//! the segment ends there, with no test and no fallback (its update, the
//! distance from the initial guess, is not a residual and is not reported).
//!
//! Units spread over threads; when there are fewer units than threads, each
//! unit's rows are cut into chunks run by the spare threads: the guess and the
//! linearisation are independent per row, and the scan composes each chunk's
//! maps, chains them, and applies them (for Jacobian blocks of at most 8 unknowns;
//! wider ones scan on one thread).

use crate::solve::{Decision, NewtonSettings, SegmentIteration};

use super::buffers::{Shared, zeroed};
use super::error::CpuError;
use super::parallel::{channel_ranges, run_tasks};
use super::run::{Previous, Run, StepCall};
use super::scan::{self, Lanes, Rows, Sweep};

/// Floats of step values and Jacobians one unit keeps for a segment.
const SEGMENT_BUDGET: usize = 1 << 22;
/// The shortest segment, whatever the budget says.
const MIN_SEGMENT: usize = 64;
/// The fewest rows worth a thread of their own.
pub(crate) const MIN_CHUNK_ROWS: usize = 256;
/// The widest Jacobian block scanned by several threads at once.
pub(crate) const MAX_PARALLEL_BLOCK: usize = 8;

/// What the Newton solves did, over every unit and segment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct NewtonStats {
    pub iterations: u32,
    /// Damped iterations, summed over the segments.
    pub damped_iterations: u64,
    pub fallbacks: u64,
    pub segments: u64,
    pub residual: f32,
}

impl NewtonStats {
    fn merge(self, other: NewtonStats) -> NewtonStats {
        NewtonStats {
            iterations: self.iterations.max(other.iterations),
            damped_iterations: self.damped_iterations + other.damped_iterations,
            fallbacks: self.fallbacks + other.fallbacks,
            segments: self.segments + other.segments,
            residual: self.residual.max(other.residual),
        }
    }
}

struct Workspace {
    f: Vec<f32>,
    jac: Vec<f32>,
    scratch: Vec<f32>,
    scratch_len: usize,
}

/// Runs `body(chunk, first, end)` over `rows` rows cut into at most `threads`
/// chunks (one thread each).
fn parallel_rows<T: Send>(
    threads: usize,
    rows: usize,
    body: &(dyn Fn(usize, usize, usize) -> T + Sync),
) -> Result<Vec<T>, CpuError> {
    let chunks = threads.min(rows / MIN_CHUNK_ROWS).max(1);
    if chunks == 1 {
        return Ok(vec![body(0, 0, rows)]);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            (0..chunks).map(|c| scope.spawn(move || body(c, rows * c / chunks, rows * (c + 1) / chunks))).collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| CpuError::Worker("a Newton worker panicked".to_owned())))
            .collect()
    })
}

/// Solves every sequence by Newton's method, writing the state rows `states`
/// (`[B, T, N]`).
pub(crate) fn newton(
    run: &Run<'_>,
    settings: &NewtonSettings,
    linear: bool,
    states: &mut [f32],
) -> Result<NewtonStats, CpuError> {
    let layout = &run.jit.layout;
    let (width, jac_width) = (layout.state_width, layout.jacobian.len());
    let channels = layout.states.first().map_or(0, |s| s.len);
    let ranges = channel_ranges(layout.split, channels, run.batch, run.threads);
    let units = run.batch * ranges.len();
    let outer = run.threads.clamp(1, units.max(1));
    let inner = if layout.jacobian.block <= MAX_PARALLEL_BLOCK { (run.threads / outer).max(1) } else { 1 };
    let budgeted = (SEGMENT_BUDGET / (width + jac_width).max(1)).max(MIN_SEGMENT);
    let segment = run.segment.unwrap_or(budgeted).min(run.steps).max(1);
    let offsets: Vec<usize> = layout.states.iter().map(|s| s.offset).collect();
    let shared = Shared(states.as_mut_ptr());
    let scratch_len = layout.scratch_len.max(1);
    let init = || -> Result<Workspace, CpuError> {
        Ok(Workspace {
            f: zeroed("Newton's step values", segment.checked_mul(width))?,
            jac: zeroed("Newton's Jacobians", segment.checked_mul(jac_width))?,
            scratch: zeroed("kernel scratch", inner.checked_mul(scratch_len))?,
            scratch_len,
        })
    };
    let stats = run_tasks(units, outer, &init, &|workspace, unit| {
        let (b, range) = (unit / ranges.len(), ranges[unit % ranges.len()]);
        let lanes = Lanes::new(&layout.jacobian, &offsets, width, layout.split.map(|_| range));
        let sequence = Shared(shared.at(b * run.steps * width));
        let mut stats = NewtonStats::default();
        for first in (0..run.steps).step_by(segment) {
            let segment = Segment { b, first, len: segment.min(run.steps - first), range, sequence };
            stats = stats.merge(solve_segment(run, settings, linear, workspace, &lanes, &segment, inner)?);
        }
        Ok(stats)
    })?;
    Ok(stats.into_iter().fold(NewtonStats::default(), NewtonStats::merge))
}

/// Rows `first..first + len` of sequence `b`, channels `range`.
struct Segment {
    b: usize,
    first: usize,
    len: usize,
    range: (usize, usize),
    /// Row 0 of the sequence's states.
    sequence: Shared,
}

fn solve_segment(
    run: &Run<'_>,
    settings: &NewtonSettings,
    linear: bool,
    workspace: &mut Workspace,
    lanes: &Lanes,
    segment: &Segment,
    inner: usize,
) -> Result<NewtonStats, CpuError> {
    let layout = &run.jit.layout;
    let (width, pre_width, jac_width) = (layout.state_width, layout.pre_width, layout.jacobian.len());
    let linearize = run.jit.linearize.ok_or_else(|| CpuError::Worker("no linearisation kernel".to_owned()))?;
    let start = if segment.first == 0 {
        Shared(run.init_row(segment.b).cast_mut())
    } else {
        Shared(segment.sequence.at((segment.first - 1) * width))
    };
    let h = Shared(segment.sequence.at(segment.first * width));
    let pre = Shared(run.pre_row(segment.b, segment.first).cast_mut());
    let (f, jac) = (Shared(workspace.f.as_mut_ptr()), Shared(workspace.jac.as_mut_ptr()));
    let scratch = Shared(workspace.scratch.as_mut_ptr());
    let scratch_len = workspace.scratch_len;
    let call = |kernel, previous, out: Shared, jac: Option<Shared>, first: usize, end: usize, chunk: usize| {
        let call = StepCall {
            pre: pre.at(first * pre_width).cast_const(),
            previous,
            out: Shared(out.at(first * width)),
            jac: jac.map(|j| Shared(j.at(first * jac_width))),
            rows: end - first,
            channels: segment.range,
            scratch: scratch.at(chunk * scratch_len),
        };
        // SAFETY: the segment's rows exist in the hoisted values, the states and
        // the workspace; chunks cover disjoint rows, units disjoint channels.
        unsafe { run.step(kernel, call) }
    };
    let chained = |first: usize| Previous::Chain {
        first: if first == 0 { start.at(0).cast_const() } else { h.at((first - 1) * width).cast_const() },
        rows: h.at(first * width).cast_const(),
    };
    let guess = || {
        parallel_rows(inner, segment.len, &|chunk, first, end| {
            call(run.jit.states, Previous::Fixed(start.at(0).cast_const()), h, None, first, end, chunk)
        })
    };
    guess()?;
    let rows_of = |first: usize, end: usize| Rows {
        f: Shared(f.at(first * width)),
        h: Shared(h.at(first * width)),
        jac: Shared(jac.at(first * jac_width)),
        rows: end - first,
        width,
        jac_width,
    };
    let threads = if segment.len >= 2 * MIN_CHUNK_ROWS { inner } else { 1 };
    let mut iteration = SegmentIteration::default();
    loop {
        let scale = iteration.scale();
        let sweep = if threads == 1 {
            call(linearize, chained(0), f, Some(jac), 0, segment.len, 0);
            // SAFETY: the rows were just written; the unit owns its channels.
            unsafe { scan::apply(lanes, &rows_of(0, segment.len), None, settings.rtol, scale) }
        } else {
            let bounds = parallel_rows(threads, segment.len, &|chunk, first, end| {
                call(linearize, chained(first), f, Some(jac), first, end, chunk);
                // SAFETY: as above; chunks read and write disjoint rows.
                (first, end, unsafe { scan::summarize(lanes, &rows_of(first, end), scale) })
            })?;
            let maps: Vec<_> = bounds.iter().map(|(_, _, m)| m.clone()).collect();
            let entering = scan::carry(lanes, &maps);
            let sweeps = parallel_rows(threads, segment.len, &|chunk, first, end| {
                let entering = entering.get(chunk).map(Vec::as_slice);
                // SAFETY: as above.
                unsafe { scan::apply(lanes, &rows_of(first, end), entering, settings.rtol, scale) }
            })?;
            sweeps.into_iter().fold(Sweep::NONE, Sweep::merge)
        };
        if linear {
            return Ok(NewtonStats { iterations: 1, segments: 1, ..NewtonStats::default() });
        }
        let met = sweep.excess <= settings.atol;
        let decision = iteration.decide(sweep.update, sweep.finite, met, settings);
        let stats = |fallbacks: u64, residual: f32| NewtonStats {
            iterations: iteration.iterations,
            damped_iterations: u64::from(iteration.damped),
            fallbacks,
            segments: 1,
            residual,
        };
        match decision {
            Decision::Converged => return Ok(stats(0, sweep.update)),
            Decision::Continue => {}
            Decision::Restart => {
                guess()?;
            }
            Decision::Fallback => {
                call(run.jit.states, chained(0), h, None, 0, segment.len, 0);
                // The outputs are the sequential method's: Newton's last update is
                // not their residual.
                return Ok(stats(1, 0.0));
            }
        }
    }
}
