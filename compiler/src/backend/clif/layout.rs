//! Where everything a kernel reads and writes lives: the packed parameters, the
//! hoisted values, the state, output and Jacobian rows, the scratch and the
//! constant table. The runtime lays its buffers out by [`CpuLayout`]; every
//! offset and length is in floats. What the layout shares with the GPU (the
//! parameters, the projection launches and their columns, the hoisted values)
//! comes from the kernel plan ([`crate::plan::CellPlan`]); this module only
//! gives it `usize` offsets.

use crate::analyse::JacobianStructure;
use crate::arena::Handle;
use crate::ir::Node;
use crate::plan::CellPlan;

/// A run of floats in a row or buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Where it starts.
    pub offset: usize,
    /// How many floats.
    pub len: usize,
}

impl From<crate::plan::Slot> for Slot {
    /// The plan's slot (32-bit words) as floats in host memory.
    fn from(slot: crate::plan::Slot) -> Self {
        Slot { offset: slot.offset as usize, len: slot.len as usize }
    }
}

/// A value computed before the recurrence, for every row `B x T`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreValue {
    /// The IR node it holds.
    pub node: Handle<Node>,
    /// Its place in a row of the hoisted values.
    pub slot: Slot,
}

/// Where one output of the cell comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputSource {
    /// The new value of this state (index in the cell's states): copied from the
    /// state rows.
    State(usize),
    /// Computed by the outputs kernel, at this place of its rows.
    Computed(Slot),
}

/// How the state Jacobian of one step is stored.
///
/// The unknowns of a step are cut into `groups` groups of `block` unknowns that
/// only depend on the previous values of their own group; entry `(row, col)` of
/// group `g`'s `block x block` matrix is at `(row * block + col) * groups + g`
/// (groups innermost, so a solver can sweep the groups with vector loads).
///
/// - Diagonal: one unknown per group, one group per element of the state row.
/// - Block-diagonal `K` with `n` states of length `H` and `k = K / n` channels per
///   group: group `g` holds channels `g k .. g k + k` of every state, unknown
///   `u = i k + r` being channel `g k + r` of state `i` (states outermost, unlike
///   the interleaved order of [`crate::analyse`]; the matrix is the same up to a
///   permutation).
/// - Dense: one group of every unknown, in the order of the state row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JacobianLayout {
    /// The proved structure.
    pub structure: JacobianStructure,
    /// Unknowns per group.
    pub block: usize,
    /// The number of groups.
    pub groups: usize,
    /// Channels per group and state (`k`; 1 when diagonal, the row width when
    /// dense).
    pub channel_block: usize,
    /// The distance between two states in the state row (block-diagonal only).
    pub channel_stride: usize,
}

impl JacobianLayout {
    /// Floats per step.
    pub fn len(&self) -> usize {
        self.block * self.block * self.groups
    }

    /// Whether a step's Jacobian holds no float.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The place in the state row of unknown `unknown` of group `group`.
    pub fn unknown_offset(&self, unknown: usize, group: usize) -> usize {
        let k = self.channel_block.max(1);
        (unknown / k) * self.channel_stride + group * k + unknown % k
    }

    /// The place in a step's Jacobian of entry `(row, col)` of group `group`.
    pub fn entry(&self, row: usize, col: usize, group: usize) -> usize {
        (row * self.block + col) * self.groups + group
    }
}

/// Channel-split kernels: the state and linearisation kernels compute only the
/// channels `[ChannelStart, ChannelEnd)` of every state, which depend on no other
/// channel, so threads can share one sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelSplit {
    /// The length of every state.
    pub channels: usize,
    /// Range bounds must be multiples of this (the widest block), and ranges at
    /// least 4 channels long unless they cover every channel.
    pub granule: usize,
}

/// What the backward kernel reads and writes besides the forward's buffers.
///
/// Per row `t` of a sequence (walked from the last to the first): the state row
/// `mu_{t-1}` (the cotangent of the state before step `t`, written), one row per
/// output of its cotangent (`douts[o]` floats), the input projections and their
/// cotangents (rows of [`CpuLayout::projection_width`] floats, laid out like the
/// projections), one row per input of its cotangent through elementwise uses
/// and non-host projections ([`CpuLayout::inputs`] floats), and the packed
/// parameter gradient ([`CpuLayout::params`]) that vector parameters and the
/// matrix uses inside the step are added to. The cotangents of the projections
/// (the plan's launches) become `dW` and `dx` in matrix products over every row,
/// outside the kernel.
#[derive(Clone, Debug, PartialEq)]
pub struct BackwardLayout {
    /// The length of each output's cotangent row, in the cell's order.
    pub douts: Vec<usize>,
    /// Whether the backward kernel is channel-split, and how.
    pub split: Option<ChannelSplit>,
}

/// The buffers of a compiled cell: every offset and length is in floats.
#[derive(Clone, Debug, PartialEq)]
pub struct CpuLayout {
    /// The back-end-neutral plan this layout follows.
    pub plan: CellPlan,
    /// Each parameter's place in the packed parameters, in the cell's order; each
    /// stored as declared (row-major; `block[H, K]` as `[H/K, K, K]`).
    pub params: Vec<Slot>,
    /// Floats in the packed parameters.
    pub params_len: usize,
    /// The length of each input.
    pub inputs: Vec<usize>,
    /// Floats per row of the projections (the plan's launches, computed before
    /// the hoisting kernel).
    pub projection_width: usize,
    /// The hoisted values, read by the recurrence kernels.
    pub pre: Vec<PreValue>,
    /// Floats per row of the hoisted values.
    pub pre_width: usize,
    /// Each state's place in the state row, in the cell's order.
    pub states: Vec<Slot>,
    /// Floats per state row (`N`).
    pub state_width: usize,
    /// Where each output comes from, in the cell's order.
    pub outputs: Vec<OutputSource>,
    /// Floats per row of the outputs kernel.
    pub output_width: usize,
    /// How the linearisation kernel stores each step's Jacobian.
    pub jacobian: JacobianLayout,
    /// Whether the state and linearisation kernels are channel-split, and how.
    pub split: Option<ChannelSplit>,
    /// Floats of scratch each thread gives a kernel.
    pub scratch_len: usize,
    /// The constant table (the probe vectors of the Jacobian).
    pub consts: Vec<f32>,
    /// The backward kernel's buffers, or why the cell has no backward kernel.
    pub backward: Result<BackwardLayout, String>,
}
