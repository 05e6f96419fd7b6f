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
}

impl Method {
    /// The method that runs, and why: `auto` asks `choose` (the backend's cost
    /// model); Newton falls back to sequential where the backend has no Newton
    /// kernel for the cell (`no_newton` says why).
    pub fn resolve(self, no_newton: Option<&str>, choose: impl FnOnce() -> (Method, String)) -> (Method, String) {
        match (self, no_newton) {
            (Method::Auto, _) => choose(),
            (Method::Newton, Some(why)) => (Method::Sequential, format!("Newton was asked for, but {why}")),
            (other, _) => (other, "requested".to_owned()),
        }
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Newton => "newton",
            Method::Sequential => "sequential",
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

/// What a forward solve did. Serialised as the `--report` JSON.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ForwardReport {
    /// `gpu` or `cpu`.
    pub backend: String,
    /// The device (adapter name, or the CPU and thread count).
    pub device: String,
    /// The method that ran (`newton` or `sequential`; never `auto`).
    pub method: String,
    /// Why that method (for `auto`, the cost model's choice; otherwise "requested").
    pub method_reason: String,
    /// The most Newton iterations any segment needed (1 for the sequential method).
    pub iterations: u32,
    /// Whether every segment met the stopping test (the sequential method is exact,
    /// so it is always converged).
    pub converged: bool,
    /// The largest final Newton update over all segments (0 for the sequential
    /// method).
    pub residual: f32,
    /// Segments that Newton could not solve and the sequential method did.
    pub fallback_segments: u64,
    /// Segments solved in all.
    pub segments: u64,
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
