//! Newton's linear recurrence, solved exactly: with `r_t = f_t - h_t` (the
//! step's value at the current trajectory minus the trajectory) and `J_t` its
//! Jacobian, the update `d_t = h_t^new - h_t` satisfies
//! `d_t = J_t d_{t-1} + r_t`, `d` before the segment being 0 (its start state is
//! known). [`apply`] runs that recurrence over a stretch of rows and adds `d` to
//! the trajectory; for a stretch split over threads, [`summarize`] first composes
//! each chunk's affine maps `d -> J d + r` into one map `(A, c)`, and [`carry`]
//! chains the chunk maps to give each chunk the update entering it.
//!
//! A unit's unknowns are described by [`Lanes`]: groups of `block` unknowns (see
//! `JacobianLayout`), stored in the state row in *regions*, one per state, each
//! a contiguous run of channels, so threads that own other channels never share
//! a float with it. Vectors of the unit are kept structure-of-arrays,
//! `[block][groups]`, so the loops over groups vectorise.

use rnnc_compiler::analyse::JacobianStructure;
use rnnc_compiler::backend::clif::JacobianLayout;

use super::affine::{Blocks, compose, identity, mul_add};
use super::buffers::Shared;

/// The unknowns one unit solves for.
#[derive(Clone, Debug)]
pub(crate) struct Lanes {
    /// Unknowns per group (`K`).
    pub block: usize,
    /// Channels per group and state (`k`).
    pub channel_block: usize,
    /// Groups in a whole Jacobian row (`G`).
    pub groups: usize,
    /// The unit's runs of groups.
    pub runs: Vec<LaneRun>,
}

/// Groups `first..end`, whose unknowns of state region `s` live in the state row
/// from `starts[s]` on, `(end - first) * channel_block` floats.
#[derive(Clone, Debug)]
pub(crate) struct LaneRun {
    pub starts: Vec<usize>,
    pub first: usize,
    pub end: usize,
}

impl Lanes {
    /// The unknowns of channels `channels` (all of them when the kernels are not
    /// channel-split) for a Jacobian of layout `layout` over state rows of
    /// `width` floats whose states start at `offsets`.
    pub fn new(layout: &JacobianLayout, offsets: &[usize], width: usize, channels: Option<(usize, usize)>) -> Lanes {
        let (block, k) = (layout.block, layout.channel_block.max(1));
        let runs = match layout.structure {
            JacobianStructure::Diagonal => match channels {
                Some((c0, c1)) => {
                    offsets.iter().map(|&o| LaneRun { starts: vec![o + c0], first: o + c0, end: o + c1 }).collect()
                }
                None => vec![LaneRun { starts: vec![0], first: 0, end: width }],
            },
            JacobianStructure::BlockDiagonal { .. } => {
                let (c0, c1) = channels.unwrap_or((0, layout.groups * k));
                vec![LaneRun { starts: offsets.iter().map(|&o| o + c0).collect(), first: c0 / k, end: c1 / k }]
            }
            JacobianStructure::Dense => vec![LaneRun { starts: vec![0], first: 0, end: 1 }],
        };
        Lanes { block, channel_block: k, groups: layout.groups, runs }
    }
}

/// Rows `0..rows` of a stretch: the step values `f` (then overwritten by
/// nothing), the trajectory `h` (updated in place) and the Jacobians.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rows {
    pub f: Shared,
    pub h: Shared,
    pub jac: Shared,
    pub rows: usize,
    /// Floats per state row.
    pub width: usize,
    /// Floats per Jacobian row.
    pub jac_width: usize,
}

/// What an update pass saw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Sweep {
    /// The largest `|d|`.
    pub update: f32,
    /// The largest `|d| - rtol |h|` (with `h` after the update): the stopping test
    /// is `excess <= atol`, element by element.
    pub excess: f32,
    /// Whether every update and value was finite.
    pub finite: bool,
}

impl Sweep {
    pub const NONE: Sweep = Sweep { update: 0.0, excess: f32::NEG_INFINITY, finite: true };

    pub fn merge(self, other: Sweep) -> Sweep {
        Sweep {
            update: self.update.max(other.update),
            excess: self.excess.max(other.excess),
            finite: self.finite && other.finite,
        }
    }
}

/// One run's view of one row: the regions of `h` and `f`, and the Jacobian.
struct RowView<'a> {
    h: Vec<&'a mut [f32]>,
    f: Vec<&'a [f32]>,
    jac: &'a [f32],
}

/// # Safety
/// Row `t` of `rows` must exist and the run's regions belong to this thread.
unsafe fn row_view<'a>(rows: &Rows, lanes: &Lanes, run: &LaneRun, t: usize) -> RowView<'a> {
    let len = (run.end - run.first) * lanes.channel_block;
    let mut h = Vec::with_capacity(run.starts.len());
    let mut f = Vec::with_capacity(run.starts.len());
    for &start in &run.starts {
        // SAFETY: the caller guarantees the rows exist and that no other thread
        // touches this run's regions.
        unsafe {
            h.push(std::slice::from_raw_parts_mut(rows.h.at(t * rows.width + start), len));
            f.push(std::slice::from_raw_parts(rows.f.at(t * rows.width + start), len) as &[f32]);
        }
    }
    // SAFETY: as above; Jacobian rows are only read here.
    let jac = unsafe { std::slice::from_raw_parts(rows.jac.at(t * rows.jac_width), rows.jac_width) };
    RowView { h, f, jac }
}

/// The vector `r_t` of a run: `[block][groups]`.
fn residual(lanes: &Lanes, view: &RowView<'_>, into: &mut [f32], len: usize) {
    let k = lanes.channel_block;
    for u in 0..lanes.block {
        let (s, within) = (u / k, u % k);
        let (h, f) = (&view.h[s], view.f[s]);
        for (j, slot) in into[u * len..][..len].iter_mut().enumerate() {
            let at = j * k + within;
            *slot = f[at] - h[at];
        }
    }
}

/// Row `jac`'s Jacobians of a run's groups.
pub(crate) fn run_jacobians<'a>(lanes: &Lanes, run: &LaneRun, jac: &'a [f32]) -> Blocks<'a> {
    Blocks { data: jac, block: lanes.block, stride: lanes.groups, first: run.first, len: run.end - run.first }
}

/// Runs `d_t = s J_t d_{t-1} + r_t` over the stretch from `entering` (per run;
/// `None`: zero) and adds each `d_t` to the trajectory. `s` is `scale`: 1 for
/// Newton, below 1 for a damped step (`NewtonSettings`' damping), 0 for Picard's.
///
/// # Safety
/// The rows must exist, and the runs' regions of them belong to this thread.
pub(crate) unsafe fn apply(lanes: &Lanes, rows: &Rows, entering: Option<&[Vec<f32>]>, rtol: f32, scale: f32) -> Sweep {
    let mut sweep = Sweep::NONE;
    for (index, run) in lanes.runs.iter().enumerate() {
        let len = run.end - run.first;
        let size = lanes.block * len;
        let mut d = entering.and_then(|e| e.get(index)).cloned().unwrap_or_else(|| vec![0.0; size]);
        let mut next = vec![0.0; size];
        let (mut update, mut excess, mut check) = (0.0f32, f32::NEG_INFINITY, 0.0f32);
        for t in 0..rows.rows {
            // SAFETY: forwarded from the caller.
            let mut view = unsafe { row_view(rows, lanes, run, t) };
            residual(lanes, &view, &mut next, len);
            if scale != 1.0 {
                d.iter_mut().for_each(|v| *v *= scale);
            }
            mul_add(run_jacobians(lanes, run, view.jac), &d, &mut next);
            let k = lanes.channel_block;
            for u in 0..lanes.block {
                let (s, within) = (u / k, u % k);
                let h = &mut view.h[s];
                for (j, &dn) in next[u * len..][..len].iter().enumerate() {
                    let at = j * k + within;
                    let value = h[at] + dn;
                    h[at] = value;
                    update = update.max(dn.abs());
                    excess = excess.max(dn.abs() - rtol * value.abs());
                    check += dn + 0.0 * value;
                }
            }
            std::mem::swap(&mut d, &mut next);
        }
        sweep = sweep.merge(Sweep { update, excess, finite: check.is_finite() });
    }
    sweep
}

/// One chunk's composed map `d -> A d + c` per run: `A` as `[block][block][groups]`,
/// `c` as `[block][groups]`.
#[derive(Clone, Debug)]
pub(crate) struct ChunkMap {
    pub a: Vec<f32>,
    pub c: Vec<f32>,
}

/// The composed map of the stretch, per run, its Jacobians times `scale` (reads
/// the trajectory, writes nothing).
///
/// # Safety
/// As for [`apply`].
pub(crate) unsafe fn summarize(lanes: &Lanes, rows: &Rows, scale: f32) -> Vec<ChunkMap> {
    let block = lanes.block;
    let mut maps = Vec::with_capacity(lanes.runs.len());
    for run in &lanes.runs {
        let len = run.end - run.first;
        let mut a = identity(block, len);
        let mut c = vec![0.0; block * len];
        let mut next_c = vec![0.0; block * len];
        let mut next_a = Vec::new();
        for t in 0..rows.rows {
            // SAFETY: forwarded from the caller.
            let view = unsafe { row_view(rows, lanes, run, t) };
            let jacobians = run_jacobians(lanes, run, view.jac);
            residual(lanes, &view, &mut next_c, len);
            if scale != 1.0 {
                c.iter_mut().chain(a.iter_mut()).for_each(|v| *v *= scale);
            }
            mul_add(jacobians, &c, &mut next_c);
            std::mem::swap(&mut c, &mut next_c);
            compose(jacobians, &mut a, &mut next_a);
        }
        maps.push(ChunkMap { a, c });
    }
    maps
}

/// The update entering each chunk, per run, from the chunks' maps in order:
/// zero for the first, `A_i d_i + c_i` for the next.
pub(crate) fn carry(lanes: &Lanes, chunks: &[Vec<ChunkMap>]) -> Vec<Vec<Vec<f32>>> {
    let block = lanes.block;
    let mut entering = Vec::with_capacity(chunks.len());
    let mut d: Vec<Vec<f32>> = lanes.runs.iter().map(|r| vec![0.0; block * (r.end - r.first)]).collect();
    for maps in chunks {
        entering.push(d.clone());
        for ((run, map), d) in lanes.runs.iter().zip(maps).zip(d.iter_mut()) {
            let mut next = map.c.clone();
            mul_add(Blocks::map(&map.a, block, run.end - run.first), d, &mut next);
            *d = next;
        }
    }
    entering
}
