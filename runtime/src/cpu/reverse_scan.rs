//! The backward pass's time-parallel reverse walk, for units of work (a
//! sequence, or a channel range of one) that leave threads idle: the adjoint
//! recurrence `mu_{t-1} = J_t^T mu_t + g_t` (`mu_T = 0`) solved as a reverse
//! scan, like the GPU's `adjoint_scan.wgsl`.
//!
//! Each unit's rows are cut into chunks `[s_c, e_c)`. The recurrence is affine
//! in the `mu` entering a chunk: the `mu` leaving it is `M_c^T mu + b_c`, with
//! `M_c = J_{e_c - 1} ... J_{s_c}` and `b_c` what the chunk gives from `mu = 0`.
//!
//! 1. Chunks in parallel: every chunk but the first is walked backwards by the
//!    backward kernel from `mu = 0`, which gives `b_c` (row `s_c` of the
//!    cotangents), and `M_c` is composed from the linearisation kernel's
//!    structured Jacobians (`JacobianLayout`: per group a `K x K` product). The
//!    last chunk's walk starts from the true `mu_T = 0`: it is exact, and keeps
//!    its parameter gradient.
//! 2. Per unit, from the last chunk back: the `mu` entering chunk `c` is
//!    `M_{c+1}^T mu_{c+1} + b_{c+1}`.
//! 3. Chunks in parallel: every chunk but the last walked again from the `mu`
//!    entering it, writing its final cotangents and adding its parameters'
//!    shares.
//!
//! Only float32 rounding separates it from the sequential walk. It needs the
//! linearisation kernel, and Jacobian blocks of at most `MAX_PARALLEL_BLOCK`
//! unknowns (as the forward's parallel scan).

use super::affine::{Blocks, compose, identity, mul_add_transposed};
use super::backward::{Stretch, Walk};
use super::buffers::{Shared, product, zeroed};
use super::error::CpuError;
use super::jit::Jit;
use super::newton::{MAX_PARALLEL_BLOCK, MIN_CHUNK_ROWS};
use super::parallel::{run_tasks, run_workers};
use super::run::{Previous, StepCall};
use super::scan::{LaneRun, Lanes, run_jacobians};

/// Rows linearised at once while composing a chunk's map.
const PIECE_ROWS: usize = 64;

/// The number of chunks each of `units` units of `steps` rows is cut into on
/// `threads` threads; 1 means the sequential reverse walk. With `chunk_len`,
/// chunks of at most that many rows; without, one chunk per thread a unit gets,
/// each at least `MIN_CHUNK_ROWS` long (as the forward's parallel scan).
pub(crate) fn chunks(jit: &Jit, threads: usize, units: usize, steps: usize, chunk_len: Option<usize>) -> usize {
    if jit.linearize.is_none() || jit.layout.jacobian.block > MAX_PARALLEL_BLOCK || steps == 0 {
        return 1;
    }
    match chunk_len {
        Some(len) => steps.div_ceil(len.max(1)),
        None => (threads / units.max(1)).min(steps / MIN_CHUNK_ROWS).max(1),
    }
}

/// Where chunk `c` of `chunks` over `steps` rows starts (`c = chunks`: the end).
fn chunk_start(steps: usize, chunks: usize, c: usize) -> usize {
    let (q, r) = (steps / chunks, steps % chunks);
    c * q + c.min(r)
}

/// The place in the state row of unknown `u` of group `j` of `run`.
fn position(lanes: &Lanes, run: &LaneRun, u: usize, j: usize) -> usize {
    let k = lanes.channel_block;
    run.starts[u / k] + j * k + u % k
}

/// The run's unknowns of a state row, `[block][groups]`.
fn gather(lanes: &Lanes, run: &LaneRun, row: &[f32]) -> Vec<f32> {
    let len = run.end - run.first;
    (0..lanes.block).flat_map(|u| (0..len).map(move |j| (u, j))).map(|(u, j)| row[position(lanes, run, u, j)]).collect()
}

/// Writes the run's unknowns `values` (`[block][groups]`) into a state row.
fn scatter(lanes: &Lanes, run: &LaneRun, values: &[f32], row: &mut [f32]) {
    let len = run.end - run.first;
    for u in 0..lanes.block {
        for (j, &value) in values[u * len..][..len].iter().enumerate() {
            row[position(lanes, run, u, j)] = value;
        }
    }
}

/// One unit of work and how its rows are cut.
struct Unit<'a> {
    b: usize,
    range: (usize, usize),
    lanes: &'a Lanes,
}

/// A phase-1 thread's buffers.
struct Workspace {
    scratch: Vec<f32>,
    discard: Vec<f32>,
    f: Vec<f32>,
    jac: Vec<f32>,
    next: Vec<f32>,
}

/// What phase 1 gives per chunk: `M_c` per run (empty for the last chunk), and
/// the parameter gradient of the last chunk (empty for the others).
struct ChunkMap {
    maps: Vec<Vec<f32>>,
    grads: Vec<f32>,
}

/// The channels the linearisation kernel computes for a unit's `range`: the
/// range itself when it is one of that kernel's valid ranges, else every channel.
fn linearize_range(walk: &Walk<'_>, range: (usize, usize)) -> (usize, usize) {
    let layout = &walk.run.jit.layout;
    let channels = layout.states.first().map_or(0, |s| s.len);
    match layout.split {
        Some(split) => {
            let granule = split.granule.max(1);
            let aligned = range.0.is_multiple_of(granule) && (range.1.is_multiple_of(granule) || range.1 == channels);
            let long = range.1 - range.0 >= 4 || range == (0, channels);
            if aligned && long { range } else { (0, channels) }
        }
        None => (0, channels),
    }
}

/// `M_c` of rows `first..end` of `unit`, per run, from the linearisation
/// kernel's Jacobians, `PIECE_ROWS` rows at a time.
fn chunk_map(walk: &Walk<'_>, unit: &Unit<'_>, first: usize, end: usize, workspace: &mut Workspace) -> Vec<Vec<f32>> {
    let run = walk.run;
    let layout = &run.jit.layout;
    let block = unit.lanes.block;
    let mut maps: Vec<Vec<f32>> = unit.lanes.runs.iter().map(|r| identity(block, r.end - r.first)).collect();
    let Some(linearize) = run.jit.linearize else { return maps };
    let jac_width = layout.jacobian.len();
    let channels = linearize_range(walk, unit.range);
    for start in (first..end).step_by(PIECE_ROWS) {
        let rows = PIECE_ROWS.min(end - start);
        let call = StepCall {
            pre: run.pre_row(unit.b, start),
            previous: Previous::Chain {
                first: walk.previous_state(unit.b, start),
                rows: walk.state_row(unit.b, start),
            },
            out: Shared(workspace.f.as_mut_ptr()),
            jac: Some(Shared(workspace.jac.as_mut_ptr())),
            rows,
            channels,
            scratch: workspace.scratch.as_mut_ptr(),
        };
        // SAFETY: rows `start..start + rows` of sequence `b` exist (the
        // caller's chunk lies in the run); `f` and `jac` hold `PIECE_ROWS` rows
        // and belong to this thread.
        unsafe { run.step(linearize, call) };
        for t in 0..rows {
            let jac = &workspace.jac[t * jac_width..][..jac_width];
            for (lane_run, m) in unit.lanes.runs.iter().zip(maps.iter_mut()) {
                compose(run_jacobians(unit.lanes, lane_run, jac), m, &mut workspace.next);
            }
        }
    }
    maps
}

/// Runs the reverse walk of every unit (`b`, one of `ranges`) as a reverse scan
/// over `chunks` chunks per unit (at least 2). The parameter gradients to sum.
pub(crate) fn scan(walk: &Walk<'_>, ranges: &[(usize, usize)], chunks: usize) -> Result<Vec<Vec<f32>>, CpuError> {
    let (run, layout) = (walk.run, &walk.run.jit.layout);
    let (width, steps) = (layout.state_width, run.steps);
    let offsets: Vec<usize> = layout.states.iter().map(|s| s.offset).collect();
    let lanes: Vec<Lanes> = ranges
        .iter()
        .map(|&range| Lanes::new(&layout.jacobian, &offsets, width, walk.backward.split.map(|_| range)))
        .collect();
    let units: Vec<Unit<'_>> = (0..run.batch)
        .flat_map(|b| ranges.iter().zip(&lanes).map(move |(&range, lanes)| Unit { b, range, lanes }))
        .collect();
    let bounds = |c: usize| (chunk_start(steps, chunks, c), chunk_start(steps, chunks, c + 1));
    let inner = chunks - 1;
    let maps = offsets_and_maps(walk, &units, chunks, &bounds)?;
    let mut seeds = zeroed("the chunks' entering cotangents", product(&[units.len(), inner, width]))?;
    for (index, unit) in units.iter().enumerate() {
        let unit_maps = &maps[index * inner..][..inner];
        carry(walk, unit, unit_maps, &bounds, &mut seeds[index * inner * width..][..inner * width]);
    }
    let init = || -> Result<(Vec<f32>, Vec<f32>), CpuError> {
        Ok((
            zeroed("kernel scratch", Some(layout.scratch_len))?,
            zeroed("the parameter gradient", Some(layout.params_len))?,
        ))
    };
    let workers = run_workers(units.len() * inner, run.threads, &init, &|(scratch, grads), task| {
        let (unit, c) = (&units[task / inner], task % inner);
        let (first, end) = bounds(c);
        let stretch = Stretch { b: unit.b, range: unit.range, first, end };
        let seed = seeds[task * width..][..width].as_ptr();
        // SAFETY: chunks lie in the run; tasks write disjoint chunks or
        // channel ranges; each thread has its own scratch and gradient.
        unsafe { walk.walk(&stretch, seed, scratch.as_mut_ptr(), grads.as_mut_ptr()) };
        Ok(())
    })?;
    let last = maps.into_iter().map(|m| m.grads).filter(|g| !g.is_empty());
    Ok(workers.into_iter().map(|(_, grads)| grads).chain(last).collect())
}

/// Phase 1: chunks `1..chunks` of every unit walked from `mu = 0`, with their
/// maps; in order unit by unit, chunk `c` at `unit * (chunks - 1) + c - 1`.
fn offsets_and_maps(
    walk: &Walk<'_>,
    units: &[Unit<'_>],
    chunks: usize,
    bounds: &(dyn Fn(usize) -> (usize, usize) + Sync),
) -> Result<Vec<ChunkMap>, CpuError> {
    let layout = &walk.run.jit.layout;
    let inner = chunks - 1;
    let init = || -> Result<Workspace, CpuError> {
        Ok(Workspace {
            scratch: zeroed("kernel scratch", Some(layout.scratch_len))?,
            discard: zeroed("a discarded parameter gradient", Some(layout.params_len))?,
            f: zeroed("the step values", product(&[PIECE_ROWS, layout.state_width]))?,
            jac: zeroed("the Jacobians", product(&[PIECE_ROWS, layout.jacobian.len()]))?,
            next: Vec::new(),
        })
    };
    run_tasks(units.len() * inner, walk.run.threads, &init, &|workspace, task| {
        let (unit, c) = (&units[task / inner], 1 + task % inner);
        let (first, end) = bounds(c);
        let stretch = Stretch { b: unit.b, range: unit.range, first, end };
        let last = c == chunks - 1;
        let mut grads = if last { zeroed("the parameter gradient", Some(layout.params_len))? } else { Vec::new() };
        let into = if last { grads.as_mut_ptr() } else { workspace.discard.as_mut_ptr() };
        // SAFETY: the chunk lies in the run; tasks write disjoint chunks or
        // channel ranges; the scratch and gradient belong to this task.
        unsafe { walk.walk(&stretch, walk.zero_row.as_ptr(), workspace.scratch.as_mut_ptr(), into) };
        let maps = if last { Vec::new() } else { chunk_map(walk, unit, first, end, workspace) };
        Ok(ChunkMap { maps, grads })
    })
}

/// Phase 2 for one unit: the state cotangent entering each chunk but the last
/// (`seeds`, one state row per chunk), from the last chunk back; `maps[c]` is
/// chunk `c + 1`'s.
fn carry(
    walk: &Walk<'_>,
    unit: &Unit<'_>,
    maps: &[ChunkMap],
    bounds: &dyn Fn(usize) -> (usize, usize),
    seeds: &mut [f32],
) {
    let width = walk.run.jit.layout.state_width;
    let lanes = unit.lanes;
    let mut entering: Vec<Vec<f32>> = Vec::new();
    for c in (0..maps.len()).rev() {
        let (next_first, _) = bounds(c + 1);
        // SAFETY: phase 1 is over, nothing writes the cotangents; the row
        // exists (`c + 1` is a chunk of the run).
        let offset_row = unsafe { std::slice::from_raw_parts(walk.mu_row(unit.b, next_first).cast_const(), width) };
        let seed = &mut seeds[c * width..][..width];
        let mut now = Vec::with_capacity(lanes.runs.len());
        for (r, lane_run) in lanes.runs.iter().enumerate() {
            let offset = gather(lanes, lane_run, offset_row);
            let value = match entering.get(r) {
                Some(after) => {
                    let mut value = offset;
                    let map = Blocks::map(&maps[c].maps[r], lanes.block, lane_run.end - lane_run.first);
                    mul_add_transposed(map, after, &mut value);
                    value
                }
                None => offset,
            };
            scatter(lanes, lane_run, &value, seed);
            now.push(value);
        }
        entering = now;
    }
}
