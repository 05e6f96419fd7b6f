//! What every backend's solvers share: the method, the Newton settings, the report
//! that `rnnc run --report` writes, and the gradients a backward pass returns.

use serde::Serialize;

/// How a forward pass evaluates the sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Pick by the cell's structure and the sizes (see the backend's `plan`).
    Auto,
    /// Newton's method over the sequence with a parallel scan.
    Newton,
    /// One step after another.
    Sequential,
    /// One parallel scan of the affine maps of a cell proved linear in its
    /// states (`Derived::is_linear`): Newton's first iteration, which is exact
    /// for such a cell, with no convergence test and no fallback. Never asked
    /// for: `newton` (or `auto`'s choice of Newton) resolves to it.
    Scan,
}

impl Method {
    /// The method that runs, and why: `auto` asks `choose` (the backend's cost
    /// model); Newton falls back to sequential where the backend has no Newton
    /// kernel for the cell (`no_newton` says why); Newton on a cell that is
    /// `linear` in its states is one scan ([`Method::Scan`]).
    pub fn resolve(
        self,
        no_newton: Option<&str>,
        linear: bool,
        choose: impl FnOnce() -> (Method, String),
    ) -> (Method, String) {
        let (method, reason) = match (self, no_newton) {
            (Method::Auto, _) => choose(),
            (Method::Newton, Some(why)) => (Method::Sequential, format!("Newton was asked for, but {why}")),
            (other, _) => (other, "requested".to_owned()),
        };
        match method {
            Method::Newton | Method::Scan if linear => (
                Method::Scan,
                format!("{reason}; the cell is linear in its states, so one scan of its affine maps is exact"),
            ),
            Method::Scan => (Method::Newton, format!("{reason}; the cell is not linear in its states")),
            other => (other, reason),
        }
    }

    /// Whether the method solves over the sequence in parallel (Newton's
    /// kernels: Newton, or the scan of a linear cell).
    pub fn is_parallel(self) -> bool {
        matches!(self, Method::Newton | Method::Scan)
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Newton => "newton",
            Method::Sequential => "sequential",
            Method::Scan => "scan",
        }
    }
}

/// When Newton stops, per segment of a sequence: when every element's update
/// satisfies `|h_new - h_old| <= atol + rtol * |h_new|` (DEER's test, element by
/// element, so that a growing state cannot hide errors in its small values); after
/// `max_iterations` without that, or on a non-finite or twice-growing update, the
/// segment is solved by the sequential method instead, and the report says so.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct NewtonSettings {
    /// Absolute tolerance.
    pub atol: f32,
    /// Relative tolerance.
    pub rtol: f32,
    /// Iteration cap per segment.
    pub max_iterations: u32,
}

impl Default for NewtonSettings {
    fn default() -> Self {
        NewtonSettings { atol: 1e-6, rtol: 1e-5, max_iterations: 32 }
    }
}

/// Damped Newton's decision rules, per segment: one definition, which the CPU
/// solver runs ([`SegmentIteration::decide`]) and the GPU kernel mirrors
/// (`newton.wgsl`, its numbers from here through the settings uniform).
///
/// A segment starts with plain Newton (no extra work). When Newton fails (a
/// non-finite update, or its update grew twice), instead of the sequential
/// fallback the segment restarts from the initial guess with damping: the
/// linear recurrence's Jacobians are scaled, `d_t = J_t d_{t-1} / (1 + lambda) +
/// r_t` (a Levenberg-Marquardt parameter `lambda` on the linearisation, as in
/// ELK; the same fixed point, the exact solution, whatever `lambda`; Picard's
/// step in the limit, after whose k-th iteration the first k steps are exact).
/// `lambda` starts at [`Damping::FIRST_LAMBDA`], is multiplied by
/// [`Damping::SUCCESS`] after an update smaller than the one before (towards
/// Newton) and by [`Damping::FAILURE`] after a larger or non-finite one (a
/// non-finite one also restarts from the guess); beyond
/// [`Damping::LARGEST_LAMBDA`] the step is Picard's (scale 0). Damped
/// iterations have their own cap, `max_iterations`; after it (or a non-finite
/// Picard update) the segment falls back to the sequential method, exact.
/// The numbers are measured in docs/measurements/damped-newton.md.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Damping;

impl Damping {
    /// `lambda` of the first damped iteration (the Jacobians halved).
    pub const FIRST_LAMBDA: f32 = 1.0;
    /// `lambda`'s factor after a damped update smaller than the one before.
    pub const SUCCESS: f32 = 0.25;
    /// `lambda`'s factor after a damped update larger than the one before, or
    /// not finite.
    pub const FAILURE: f32 = 2.0;
    /// Beyond this `lambda`, the step is Picard's (the Jacobians' scale is 0).
    pub const LARGEST_LAMBDA: f32 = 64.0;

    /// The Jacobians' scale at `lambda`.
    pub fn scale(lambda: f32) -> f32 {
        if lambda > Damping::LARGEST_LAMBDA { 0.0 } else { 1.0 / (1.0 + lambda) }
    }
}

/// What a segment's solver does after an iteration ([`SegmentIteration::decide`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The stopping test is met: the trajectory is the segment's solution.
    Converged,
    /// Iterate again (with [`SegmentIteration::scale`]).
    Continue,
    /// Start again from the initial guess (with [`SegmentIteration::scale`]).
    Restart,
    /// Solve the segment by the sequential method (exact).
    Fallback,
}

/// One segment's Newton iterations: plain, then damped ([`Damping`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SegmentIteration {
    /// Iterations taken, plain and damped.
    pub iterations: u32,
    /// Of which damped.
    pub damped: u32,
    /// Whether the next iteration is damped.
    pub damping: bool,
    /// The damping parameter (while `damping`).
    pub lambda: f32,
    growth: u32,
    previous: f32,
}

impl Default for SegmentIteration {
    fn default() -> Self {
        SegmentIteration { iterations: 0, damped: 0, damping: false, lambda: 0.0, growth: 0, previous: f32::MAX }
    }
}

impl SegmentIteration {
    /// The Jacobians' scale of the next iteration: 1 for Newton.
    pub fn scale(&self) -> f32 {
        if self.damping { Damping::scale(self.lambda) } else { 1.0 }
    }

    /// After an iteration whose largest update was `update` (`finite`: whether
    /// every value was) and which met the stopping test or not (`met`): what to
    /// do next.
    pub fn decide(&mut self, update: f32, finite: bool, met: bool, settings: &NewtonSettings) -> Decision {
        self.iterations += 1;
        self.damped += u32::from(self.damping);
        if finite && met {
            return Decision::Converged;
        }
        let grew = finite && update > self.previous;
        self.previous = if finite { update } else { f32::MAX };
        if !self.damping {
            self.growth += u32::from(grew);
            if finite && self.growth < 2 {
                return if self.iterations < settings.max_iterations { Decision::Continue } else { Decision::Fallback };
            }
            (self.damping, self.lambda, self.previous) = (true, Damping::FIRST_LAMBDA, f32::MAX);
            return Decision::Restart;
        }
        if self.damped >= settings.max_iterations || (!finite && self.lambda > Damping::LARGEST_LAMBDA) {
            return Decision::Fallback;
        }
        self.lambda *= if grew || !finite { Damping::FAILURE } else { Damping::SUCCESS };
        if finite { Decision::Continue } else { Decision::Restart }
    }
}

/// What a forward solve did. Serialised as the `--report` JSON.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ForwardReport {
    /// `gpu` or `cpu`.
    pub backend: String,
    /// The device (adapter name, or the CPU and thread count).
    pub device: String,
    /// The method that ran (`newton`, `scan` or `sequential`; never `auto`).
    pub method: String,
    /// Why that method (for `auto`, the cost model's choice; otherwise "requested").
    pub method_reason: String,
    /// Why this back end, when it is not the one the engine was opened on:
    /// `--backend auto` (the default) runs a cell the GPU back end cannot run
    /// on the CPU, and says why here. Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_reason: Option<String>,
    /// The most iterations any segment took: Newton's (1 for `scan` and for the
    /// sequential method). A segment that fell back counts the iterations
    /// Newton took before it gave up.
    pub iterations: u32,
    /// Whether the parallel method solved every segment by itself: Newton met
    /// its stopping test in each (a `scan` always does: it is exact; the
    /// sequential method is exact). False exactly when `fallback_segments > 0`
    /// (the outputs are then still solved: those segments are the sequential
    /// method's), or, in the command line's report, when an output is not
    /// finite (`non_finite`).
    pub converged: bool,
    /// The largest final Newton update `max |h_new - h_old|` over the segments
    /// whose outputs are Newton's (each below `atol + rtol |h|` element by
    /// element); 0 when no segment's outputs are Newton's (`scan`,
    /// `sequential`, or every segment fell back).
    pub residual: f32,
    /// Damped Newton iterations ([`Damping`]), summed over the segments: 0
    /// when plain Newton solved (or gave up on) every segment by itself.
    pub damped_iterations: u64,
    /// Segments that Newton could not solve (a non-finite or twice-growing
    /// update, or the iteration cap) and the sequential method solved instead.
    pub fallback_segments: u64,
    /// Segments solved in all (Newton and the scan cut each sequence, or each
    /// lane of it, into segments; the sequential method counts one per unit of
    /// work).
    pub segments: u64,
    /// How many segments each method solved: what the outputs are made of.
    pub segment_methods: SegmentMethods,
    /// How the `*_ms` times below were taken: `gpu-timestamps` (the device's
    /// timestamp queries around each phase's kernels: kernel time only) or
    /// `wall-clock` (host time around the work, the transfers of results
    /// included on the GPU).
    pub timing: String,
    /// Time of the solve: the projections and the recurrence.
    pub time_ms: f64,
    /// Of which the input projections, where the backend measures it separately.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projection_ms: Option<f64>,
    /// Of which the recurrence, where the backend measures it separately.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurrence_ms: Option<f64>,
    /// For a backward pass: the time of the backward part (the backward
    /// recurrence and the gradient products), after the forward counted in
    /// `time_ms`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backward_ms: Option<f64>,
    /// Of which the backward recurrence, where the backend measures it separately.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backward_scan_ms: Option<f64>,
    /// Of which the matrix products of the projections' gradients, where the
    /// backend measures it separately.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gradient_products_ms: Option<f64>,
    /// Of those, the parameters' matrices' gradients (`dW = dP^T X`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_gradients_ms: Option<f64>,
    /// Of those, the inputs' gradients through the projections (`dx = dP W`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_gradients_ms: Option<f64>,
    /// Host time of the whole call: uploads, every kernel, read-backs.
    pub wall_ms: f64,
}

/// How many segments of a solve each method solved (the report's
/// `segment_methods`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SegmentMethods {
    /// Solved by Newton's method (converged by its stopping test).
    pub newton: u64,
    /// Solved by one scan (a linear cell).
    pub scan: u64,
    /// Solved by the sequential method: asked for, or Newton's fallback.
    pub sequential: u64,
}

impl SegmentMethods {
    /// The segments of a solve by `method` of `segments` segments of which
    /// `fallbacks` fell back to the sequential method.
    pub fn of(method: Method, segments: u64, fallbacks: u64) -> SegmentMethods {
        match method {
            Method::Scan => SegmentMethods { scan: segments, ..SegmentMethods::default() },
            Method::Newton => {
                SegmentMethods { newton: segments - fallbacks.min(segments), sequential: fallbacks, scan: 0 }
            }
            Method::Sequential | Method::Auto => SegmentMethods { sequential: segments, ..SegmentMethods::default() },
        }
    }
}

/// The `timing` of a report timed by the device's timestamp queries.
pub const TIMING_GPU_TIMESTAMPS: &str = "gpu-timestamps";
/// The `timing` of a report timed by the host's clock.
pub const TIMING_WALL_CLOCK: &str = "wall-clock";

/// What a backward pass computes: the gradients of `sum over outputs o of
/// sum(dout_o * o)`, flat, in the cell's order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GradientBuffers {
    /// Per parameter, in its storage layout (`[rows, cols]` row-major, `block[H,
    /// K]` as `[H/K, K, K]`).
    pub params: Vec<Vec<f32>>,
    /// Per input, `[B, T, D]`.
    pub inputs: Vec<Vec<f32>>,
    /// Per state, the initial state's gradient, `[B, H]`.
    pub inits: Vec<Vec<f32>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newton_on_a_linear_cell_is_one_scan_and_says_why() {
        let auto = || (Method::Newton, "auto: faster".to_owned());
        let (method, reason) = Method::Newton.resolve(None, true, auto);
        assert_eq!(method, Method::Scan);
        assert_eq!(reason, "requested; the cell is linear in its states, so one scan of its affine maps is exact");
        assert_eq!(Method::Auto.resolve(None, true, auto).0, Method::Scan);
        assert_eq!(Method::Auto.resolve(None, false, auto).0, Method::Newton);
        assert_eq!(Method::Sequential.resolve(None, true, auto).0, Method::Sequential);
        // No Newton kernel: sequential, linear or not.
        assert_eq!(Method::Newton.resolve(Some("too large"), true, auto).0, Method::Sequential);
        // A scan asked for through the API on a cell that is not linear is Newton, with the reason.
        let (method, reason) = Method::Scan.resolve(None, false, auto);
        assert_eq!((method, reason.ends_with("the cell is not linear in its states")), (Method::Newton, true));
        assert_eq!(SegmentMethods::of(Method::Newton, 4, 1), SegmentMethods { newton: 3, scan: 0, sequential: 1 });
        assert_eq!(SegmentMethods::of(Method::Scan, 4, 0), SegmentMethods { newton: 0, scan: 4, sequential: 0 });
    }

    /// The rules both back ends follow: plain Newton until its update is not
    /// finite or grew twice, then damped from the initial guess, `lambda`
    /// falling on a smaller update and rising on a larger or non-finite one
    /// (restarting on a non-finite one), Picard's step beyond the largest
    /// `lambda`, and the fallback only after `max_iterations` damped ones.
    #[test]
    fn damping_takes_over_when_newton_fails_and_falls_back_last() {
        let settings = NewtonSettings { max_iterations: 6, ..NewtonSettings::default() };
        let mut it = SegmentIteration::default();
        assert_eq!((it.scale(), it.decide(1.0, true, false, &settings)), (1.0, Decision::Continue));
        assert_eq!(it.decide(2.0, true, false, &settings), Decision::Continue);
        assert_eq!(it.decide(3.0, true, false, &settings), Decision::Restart);
        assert_eq!((it.damped, it.scale()), (0, 1.0 / (1.0 + Damping::FIRST_LAMBDA)));
        assert_eq!(it.decide(1.0, true, false, &settings), Decision::Continue);
        assert_eq!((it.damped, it.lambda), (1, Damping::FIRST_LAMBDA * Damping::SUCCESS));
        assert_eq!(it.decide(2.0, true, false, &settings), Decision::Continue);
        assert_eq!(it.lambda, Damping::FIRST_LAMBDA * Damping::SUCCESS * Damping::FAILURE);
        assert_eq!(it.decide(f32::INFINITY, false, false, &settings), Decision::Restart);
        assert_eq!(it.decide(0.5, true, true, &settings), Decision::Converged);
        assert_eq!((it.iterations, it.damped), (7, 4));

        // A non-finite first update starts damping at once; the damped cap
        // sends the segment to the sequential method.
        let mut it = SegmentIteration::default();
        assert_eq!(it.decide(f32::NAN, false, false, &settings), Decision::Restart);
        let decisions: Vec<_> = (0..6).map(|_| it.decide(1.0, true, false, &settings)).collect();
        assert_eq!(decisions.last(), Some(&Decision::Fallback));
        assert!(decisions[..5].iter().all(|&d| d == Decision::Continue), "{decisions:?}");

        // Beyond the largest lambda: Picard's step; a non-finite one there gives up.
        let mut it = SegmentIteration { damping: true, lambda: 2.0 * Damping::LARGEST_LAMBDA, ..Default::default() };
        assert_eq!(it.scale(), 0.0);
        assert_eq!(it.decide(f32::INFINITY, false, false, &settings), Decision::Fallback);

        // The plain cap without growth is not damped: a stall at the cap falls back.
        let mut it = SegmentIteration::default();
        let capped = NewtonSettings { max_iterations: 1, ..settings };
        assert_eq!((it.decide(1.0, true, false, &capped), it.damped), (Decision::Fallback, 0));
    }
}
