//! The lanes' shares of a replicated value's cotangent (lanes of whole rows,
//! [`super::rows`]): in the backward, every lane holds a replicated projection
//! (Mamba's `B = W_B x`, `[N]`) whole, and its cotangent in a lane is that
//! lane's share, a sum over the lane's rows. The projection's cotangent is the
//! sum of every lane's share.
//!
//! The backward kernels call `sum_shares` after each step: the lanes of a group
//! (a reverse-scan workgroup's `C` lanes of one chunk; the sequential kernel's
//! in groups of `C` too) add their shares in workgroup memory, and the group's
//! sum goes to the grads buffer (`GradientLayout::replicated`, `[groups, B T,
//! R]`). The entry point `replicated_sums` then adds the groups' sums into the
//! projections' columns of `dP`, where the weight and input gradients'
//! products read them. A cell without replicated projections gets a
//! `sum_shares` that does nothing.

use super::plan::KernelPlan;

/// Threads per workgroup of `replicated_sums`.
pub const SUM_THREADS: u64 = 256;

/// The most threads of a backward workgroup that hold shares: the reverse
/// scan's `C S`, or the sequential kernel's lanes.
const SHARE_ROWS: &str = "max(C * S, 64u)";

/// The workgroups of `replicated_sums` over `rows` steps (one thread per word
/// of the replicated projections' cotangents), in rows of at most
/// `max_per_dimension`.
pub fn sums_grid(plan: &KernelPlan, rows: u64, max_per_dimension: u32) -> [u32; 3] {
    super::grid_in_rows(rows * plan.replicated_width(), SUM_THREADS, max_per_dimension)
}

/// The backward module's text for the shares: `sum_shares`, and with
/// replicated projections `replicated_column` and the entry point
/// `replicated_sums`.
pub fn text(plan: &KernelPlan) -> String {
    if plan.replicated.is_empty() {
        return "// No replicated projections: no shares to sum.\n\
                fn sum_shares(me: u32, lane: u32, b: u32, t: u32, shares: array<f32, SHARE_WORDS>) {}\n"
            .to_owned();
    }
    let mut columns = String::new();
    let mut at = 0;
    for &(column, width) in &plan.replicated {
        columns.push_str(&format!("    if r < {}u {{ return {column}u + r - {at}u; }}\n", at + width));
        at += width;
    }
    format!(
        "// Each thread's shares of the replicated projections' cotangents at one step.
var<workgroup> share_rows: array<array<f32, SHARE_WORDS>, {SHARE_ROWS}>;

// The shares of thread `me` (lane `lane`, `lane % C` its place in its group of C
// lanes, which sit at C consecutive `me`) at step `t`, summed over its group:
// thread c of a group writes words c, c + C, ... of the group's sum. Every thread
// of the workgroup calls it (it holds two barriers); a dead lane's shares are 0.
fn sum_shares(me: u32, lane: u32, b: u32, t: u32, shares: array<f32, SHARE_WORDS>) {{
    share_rows[me] = shares;
    workgroupBarrier();
    let c = lane % C;
    if lane - c < settings.lanes && t < settings.steps {{
        let at = replicated_base() + ((lane / C * settings.batch + b) * settings.steps + t) * REPLICATED_WORDS;
        for (var r = c; r < REPLICATED_WORDS; r += C) {{
            var sum = 0.0;
            for (var k = 0u; k < C; k++) {{ sum += share_rows[me - c + k][r]; }}
            grads[at + r] = sum;
        }}
    }}
    workgroupBarrier();
}}

// The column of word `r` of a step's replicated shares.
fn replicated_column(r: u32) -> u32 {{
{columns}    return 0u;
}}

// Each replicated projection's cotangent: the sum of the groups' shares.
@compute @workgroup_size({SUM_THREADS}, 1, 1)
fn replicated_sums(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {{
    touch_bindings();
    let word = id.x + id.y * groups.x * {SUM_THREADS}u;
    let rows = settings.batch * settings.steps;
    if word >= rows * REPLICATED_WORDS {{ return; }}
    let row = word / REPLICATED_WORDS;
    let r = word % REPLICATED_WORDS;
    var sum = 0.0;
    for (var group = 0u; group < share_groups(); group++) {{
        sum += grads[replicated_base() + (group * rows + row) * REPLICATED_WORDS + r];
    }}
    grads[row * COLUMNS + replicated_column(r)] = sum;
}}
"
    )
}
