//! The CPU back end: a cell's kernels compiled to machine code with cranelift, and
//! the forward solvers that run them on threads.
//!
//! [`CpuCell::compile`] generates the CLIF kernels of a derived cell for bound
//! sizes (`rnnc_compiler::backend::clif`) and JIT-compiles them for this machine.
//! [`CpuCell::forward`] then runs data bound to the cell:
//!
//! 1. the input projections `W @ x` for all `B x T` rows as matrix products, and
//!    the hoisting kernel (biases, state-independent gates) after them;
//! 2. the recurrence, by the sequential method (one step after another, each
//!    sequence or channel range on a thread) or by Newton's method over the
//!    sequence (segments, linearisation, exact scan, DEER's stopping test,
//!    sequential fallback of divergent segments), see `newton`;
//! 3. the outputs that are not states, every row independently.
//!
//! [`CpuCell::backward`] runs the same forward, keeping every state, then the
//! backward pass: the backward kernel walks each sequence from its last step to
//! its first (the adjoint recurrence `mu_{t-1} = J_t^T mu_t + g_t`, `mu_T = 0`,
//! see `backward`), threads over sequences and channel ranges as the sequential
//! method does; then the host projections' gradients as matrix products over
//! every row (`gradients`). When those units of work leave threads idle (each
//! gets at least 2 threads and 2 x 256 steps) and the Jacobian's blocks have
//! at most 8 unknowns, each unit's rows are cut into one chunk per thread and
//! the walk becomes a reverse scan (`reverse_scan`): chunk offsets and
//! Jacobian products in parallel, a short carry from the last chunk back,
//! then every chunk walked again from the cotangent entering it.
//!
//! `Method::Auto` picks the sequential method unless each unit of work (a
//! sequence, or a channel range of one) would get at least
//! [`AUTO_NEWTON_THREADS_PER_UNIT`] threads and the sequence has at least
//! [`AUTO_NEWTON_MIN_STEPS`] steps: Newton does about 10 times the sequential
//! work (3 to 5 iterations, each a linearisation and a scan), so it only wins
//! with that many spare threads (docs/PERFORMANCE-cpu.md has the measurements).

mod affine;
mod backward;
mod buffers;
mod error;
mod gradients;
mod jit;
mod newton;
mod outputs;
mod parallel;
mod project;
mod reverse_scan;
mod run;
mod scan;
mod sequential;

use std::time::{Duration, Instant};

pub use error::CpuError;
use rnnc_compiler::Derived;
pub use rnnc_compiler::backend::clif::CpuLayout;
use rnnc_compiler::backend::clif::NO_NEWTON;
use rnnc_compiler::check::DimSizes;

use crate::data::BoundData;
use crate::solve::{ForwardReport, GradientBuffers, Method, NewtonSettings, SegmentMethods};
use buffers::{product, zeroed};
use parallel::channel_ranges;

/// `Method::Auto` picks Newton only when every unit of work gets at least this
/// many threads.
pub const AUTO_NEWTON_THREADS_PER_UNIT: usize = 16;
/// `Method::Auto` picks Newton only for sequences at least this long.
pub const AUTO_NEWTON_MIN_STEPS: usize = 4096;

/// A cell compiled for the CPU, for one set of dim sizes. See the [module
/// documentation](self).
pub struct CpuCell {
    jit: jit::Jit,
    name: String,
    dims: DimSizes,
    threads: usize,
    segment: Option<usize>,
    backward_chunk: Option<usize>,
}

impl std::fmt::Debug for CpuCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuCell").field("cell", &self.name).field("threads", &self.threads).finish_non_exhaustive()
    }
}

impl CpuCell {
    /// Generates and JIT-compiles the kernels of `derived` for `dims`. It uses
    /// every hardware thread unless [`CpuCell::set_threads`] says otherwise.
    pub fn compile(derived: &Derived, dims: &DimSizes) -> Result<CpuCell, CpuError> {
        let jit = jit::compile(derived, dims)?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(CpuCell {
            jit,
            name: derived.cell.name.clone(),
            dims: dims.clone(),
            threads,
            segment: None,
            backward_chunk: None,
        })
    }

    /// How long [`CpuCell::compile`] took (CLIF generation and machine code).
    pub fn compile_time(&self) -> Duration {
        self.jit.compile_time
    }

    /// Uses at most `threads` threads (at least 1).
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// Fixes the length of Newton's segments (`None`: as many steps as a memory
    /// budget of 16 MiB of step values and Jacobians per unit allows, at least 64).
    /// Shorter segments confine a divergence to fewer steps.
    pub fn set_segment_len(&mut self, steps: Option<usize>) {
        self.segment = steps.map(|s| s.max(1));
    }

    /// Fixes the length of the backward pass's time-parallel chunks (`None`:
    /// one chunk per thread that each unit of work gets, each at least 256
    /// rows). A length at least the sequence's gives the sequential reverse walk.
    pub fn set_backward_chunk_len(&mut self, steps: Option<usize>) {
        self.backward_chunk = steps.map(|s| s.max(1));
    }

    /// The number of chunks the backward pass cuts each unit of work (a
    /// sequence, or a channel range of one) into for `batch` sequences of
    /// `steps` steps: 1 is the sequential reverse walk, more the time-parallel
    /// reverse scan (see the [module documentation](self)).
    pub fn backward_chunks(&self, batch: usize, steps: usize) -> usize {
        let Ok(backward) = &self.jit.layout.backward else { return 1 };
        let channels = self.jit.layout.states.first().map_or(0, |s| s.len);
        let units = batch * channel_ranges(backward.split, channels, batch, self.threads).len();
        reverse_scan::chunks(&self.jit, self.threads, units, steps, self.backward_chunk)
    }

    /// The number of threads a run uses at most.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Where the kernels read and write everything.
    pub fn layout(&self) -> &CpuLayout {
        &self.jit.layout
    }

    /// Whether Newton's method is available (not for dense Jacobians of more
    /// unknowns than `Device::Cpu.dense_newton_unknowns()`).
    pub fn has_newton(&self) -> bool {
        self.jit.linearize.is_some()
    }

    /// The machine and thread count, as reports name it.
    pub fn device(&self) -> String {
        format!("{} CPU, {} threads", self.jit.target, self.threads)
    }

    /// The method `Method::Auto` picks for `batch` sequences of `steps` steps, and
    /// why (see the [module documentation](self)).
    pub fn choose_method(&self, batch: usize, steps: usize) -> (Method, String) {
        if !self.has_newton() {
            return (Method::Sequential, format!("auto: {NO_NEWTON}"));
        }
        let layout = &self.jit.layout;
        let channels = layout.states.first().map_or(0, |s| s.len);
        let units = batch.max(1) * channel_ranges(layout.split, channels, batch, self.threads).len();
        let per_unit = self.threads / units;
        if per_unit >= AUTO_NEWTON_THREADS_PER_UNIT && steps >= AUTO_NEWTON_MIN_STEPS {
            (Method::Newton, format!("auto: {per_unit} threads per sequence and {steps} steps favour Newton"))
        } else {
            (
                Method::Sequential,
                format!(
                    "auto: {units} unit(s) of work for {} thread(s); Newton needs {AUTO_NEWTON_THREADS_PER_UNIT} \
                     threads per unit and {AUTO_NEWTON_MIN_STEPS} steps to win",
                    self.threads
                ),
            )
        }
    }

    fn check_dims(&self, data: &BoundData) -> Result<(), CpuError> {
        if data.dims() != &self.dims {
            return Err(CpuError::SizesDiffer {
                cell: self.name.clone(),
                compiled: format!("{:?}", self.dims),
                found: format!("{:?}", data.dims()),
            });
        }
        Ok(())
    }

    /// The parameters of `data`, packed as the kernels read them.
    pub fn pack_params(&self, data: &BoundData) -> Result<Vec<f32>, CpuError> {
        self.check_dims(data)?;
        buffers::pack_params(&self.jit.layout, data)
    }

    /// The hoisted values of every row of `data`, `[B, T, pre_width]`, with the
    /// packed parameters `params` (from [`CpuCell::pack_params`]).
    pub fn hoist(&self, data: &BoundData, params: &[f32]) -> Result<Vec<f32>, CpuError> {
        self.check_dims(data)?;
        let inputs: Vec<&[f32]> = data.inputs().iter().map(|t| t.data()).collect();
        let rows = product(&[data.batch(), data.seq_len()]).unwrap_or(usize::MAX);
        project::hoist(&self.jit, params, &inputs, rows, self.threads)
    }

    /// The recurrence of one sequence by the sequential method on this thread:
    /// from the hoisted values `pre` (`[steps, pre_width]`) and the initial state
    /// row `init` (`[N]`), every state row `states` (`[steps, N]`).
    pub fn run_sequential(
        &self,
        params: &[f32],
        pre: &[f32],
        init: &[f32],
        states: &mut [f32],
        steps: usize,
    ) -> Result<(), CpuError> {
        let layout = &self.jit.layout;
        let expect = |what, expected: Option<usize>, found: usize| match expected {
            Some(expected) if expected == found => Ok(()),
            expected => Err(CpuError::WrongLength { what, expected: expected.unwrap_or(usize::MAX), found }),
        };
        expect("the parameters", Some(layout.params_len), params.len())?;
        expect("the hoisted values", product(&[steps, layout.pre_width]), pre.len())?;
        expect("the initial state", Some(layout.state_width), init.len())?;
        expect("the states", product(&[steps, layout.state_width]), states.len())?;
        let run = run::Run { jit: &self.jit, params, pre, init, batch: 1, steps, threads: 1, segment: None };
        sequential::sequential(&run, states)
    }

    /// Runs the cell forward over `data` (bound to the cell this was compiled
    /// from, with the same sizes): one `[B, T, size]` buffer per output of the
    /// cell, in its order, and the report.
    pub fn forward(
        &self,
        data: &BoundData,
        method: Method,
        settings: &NewtonSettings,
    ) -> Result<(Vec<Vec<f32>>, ForwardReport), CpuError> {
        let mut solved = self.solve(data, method, settings)?;
        let states = std::mem::take(&mut solved.states);
        let outputs = self.outputs(data, &solved, states)?;
        let report = self.report(&solved);
        Ok((outputs, report))
    }

    /// Runs the cell forward over `data` as [`CpuCell::forward`] does, then
    /// backward: the outputs (those of `forward`), the gradients of
    /// `sum over outputs o of sum(douts[o] * o)` with respect to every parameter,
    /// input and initial state, and the report (with `backward_ms`). `douts[o]` is
    /// output `o`'s cotangent, `[B, T, size]`.
    pub fn backward(
        &self,
        data: &BoundData,
        douts: &[Vec<f32>],
        method: Method,
        settings: &NewtonSettings,
    ) -> Result<(Vec<Vec<f32>>, GradientBuffers, ForwardReport), CpuError> {
        let (outputs, mut report, tape) = self.forward_tape(data, method, settings)?;
        let (gradients, backward_ms) = self.backward_tape(data, douts, tape)?;
        report.backward_ms = Some(backward_ms);
        report.wall_ms += backward_ms;
        Ok((outputs, gradients, report))
    }

    /// Runs the cell forward over `data` keeping what a backward pass needs (the
    /// tape: every state, the projections and the hoisted values).
    pub fn forward_tape(
        &self,
        data: &BoundData,
        method: Method,
        settings: &NewtonSettings,
    ) -> Result<(Vec<Vec<f32>>, ForwardReport, CpuTape), CpuError> {
        self.jit.layout.backward.as_ref().map_err(|reason| self.no_backward(reason))?;
        let solved = self.solve(data, method, settings)?;
        let outputs = self.outputs(data, &solved, solved.states.clone())?;
        let report = self.report(&solved);
        Ok((outputs, report, CpuTape { solved, batch: data.batch(), steps: data.seq_len() }))
    }

    /// The backward pass of the forward pass that made `tape` (over the same
    /// `data`): the gradients and the backward's time in milliseconds.
    pub fn backward_tape(
        &self,
        data: &BoundData,
        douts: &[Vec<f32>],
        tape: CpuTape,
    ) -> Result<(GradientBuffers, f64), CpuError> {
        let layout = &self.jit.layout;
        let backward_layout = layout.backward.as_ref().map_err(|reason| self.no_backward(reason))?;
        let kernel = self.jit.backward.ok_or_else(|| self.no_backward("the backward kernel is missing"))?;
        self.check_dims(data)?;
        if tape.batch != data.batch() || tape.steps != data.seq_len() {
            return Err(self.no_backward("the tape was made for other data"));
        }
        let solved = tape.solved;
        let start = Instant::now();
        let inputs: Vec<&[f32]> = data.inputs().iter().map(|t| t.data()).collect();
        let douts: Vec<&[f32]> = douts.iter().map(Vec::as_slice).collect();
        let given = backward::Cotangents {
            projected: &solved.projected,
            inputs: &inputs,
            douts: &douts,
            states: &solved.states,
        };
        let run = self.run(data, &solved);
        let mut adjoints = backward::reverse(&run, kernel, backward_layout, &given, self.backward_chunk)?;
        gradients::project_back(layout, &solved.params, &inputs, &mut adjoints, solved.rows, self.threads)?;
        let mut gradients = gradients::unpack(layout, adjoints, data.batch(), data.seq_len())?;
        data.sum_scalar_gradients(&mut gradients);
        Ok((gradients, start.elapsed().as_secs_f64() * 1e3))
    }

    fn no_backward(&self, reason: &str) -> CpuError {
        CpuError::NoBackward { cell: self.name.clone(), reason: reason.to_owned() }
    }

    /// The run over `data` that `solved` solved.
    fn run<'a>(&'a self, data: &BoundData, solved: &'a Solved) -> run::Run<'a> {
        run::Run {
            jit: &self.jit,
            params: &solved.params,
            pre: &solved.pre,
            init: &solved.init,
            batch: data.batch(),
            steps: data.seq_len(),
            threads: self.threads,
            segment: self.segment,
        }
    }

    /// The projections, the hoisted values and the states of every sequence of
    /// `data`, by `method`.
    fn solve(&self, data: &BoundData, method: Method, settings: &NewtonSettings) -> Result<Solved, CpuError> {
        settings.validate()?;
        self.check_dims(data)?;
        let (batch, steps) = (data.batch(), data.seq_len());
        let no_newton = (!self.has_newton()).then_some(NO_NEWTON);
        let linear = self.jit.layout.plan.linear;
        let (method, reason) = method.resolve(no_newton, linear, || self.choose_method(batch, steps));
        let start = Instant::now();
        let layout = &self.jit.layout;
        let params = buffers::pack_params(layout, data)?;
        let init = buffers::pack_inits(layout, data)?;
        let rows =
            product(&[batch, steps]).ok_or(CpuError::OutOfMemory { what: "the rows", floats: "B x T".into() })?;
        let inputs: Vec<&[f32]> = data.inputs().iter().map(|t| t.data()).collect();
        let (projected, pre) = project::hoist_keeping_projections(&self.jit, &params, &inputs, rows, self.threads)?;
        let states = zeroed("the states", product(&[rows, layout.state_width]))?;
        let mut solved = Solved {
            params,
            init,
            projected,
            pre,
            states,
            rows,
            method,
            reason,
            stats: newton::NewtonStats::default(),
            start,
        };
        let mut states = std::mem::take(&mut solved.states);
        let run = self.run(data, &solved);
        let channels = layout.states.first().map_or(0, |s| s.len);
        let units = (batch * channel_ranges(layout.split, channels, batch, self.threads).len()) as u64;
        let stats = match method {
            _ if rows == 0 => newton::NewtonStats { iterations: 1, ..Default::default() },
            Method::Newton | Method::Scan => newton::newton(&run, settings, method == Method::Scan, &mut states)?,
            _ => {
                sequential::sequential(&run, &mut states)?;
                newton::NewtonStats { iterations: 1, segments: units, ..Default::default() }
            }
        };
        solved.states = states;
        solved.stats = stats;
        Ok(solved)
    }

    /// Every output of a solved run whose states are `states` (taken out of
    /// `solved`, or a copy).
    fn outputs(&self, data: &BoundData, solved: &Solved, states: Vec<f32>) -> Result<Vec<Vec<f32>>, CpuError> {
        let run = self.run(data, solved);
        let computed = outputs::outputs(&run, &states)?;
        buffers::assemble_outputs(&self.jit.layout, solved.rows, states, &computed)
    }

    /// The report of a solved run, timed up to now.
    fn report(&self, solved: &Solved) -> ForwardReport {
        let stats = solved.stats;
        ForwardReport {
            backend: "cpu".to_owned(),
            device: self.device(),
            method: solved.method.name().to_owned(),
            method_reason: solved.reason.clone(),
            backend_reason: None,
            iterations: stats.iterations,
            converged: stats.fallbacks == 0,
            residual: stats.residual,
            damped_iterations: stats.damped_iterations,
            fallback_segments: stats.fallbacks,
            segments: stats.segments,
            segment_methods: SegmentMethods::of(solved.method, stats.segments, stats.fallbacks),
            timing: crate::solve::TIMING_WALL_CLOCK.to_owned(),
            time_ms: solved.start.elapsed().as_secs_f64() * 1e3,
            projection_ms: None,
            recurrence_ms: None,
            backward_ms: None,
            backward_scan_ms: None,
            gradient_products_ms: None,
            weight_gradients_ms: None,
            input_gradients_ms: None,
            wall_ms: solved.start.elapsed().as_secs_f64() * 1e3,
        }
    }
}

/// What a CPU forward pass keeps for the backward pass that follows it
/// ([`CpuCell::forward_tape`]).
pub struct CpuTape {
    solved: Solved,
    batch: usize,
    steps: usize,
}

/// A forward solve: what the outputs and the backward pass read.
struct Solved {
    params: Vec<f32>,
    init: Vec<f32>,
    projected: Vec<f32>,
    pre: Vec<f32>,
    states: Vec<f32>,
    rows: usize,
    method: Method,
    reason: String,
    stats: newton::NewtonStats,
    start: Instant,
}
