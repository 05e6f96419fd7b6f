//! The structure of the state Jacobian `d state' / d state`, proved from the
//! form of its blocks.
//!
//! The full state vector interleaves the states channel by channel: with states
//! `s_0 .. s_{n-1}` of one length `H`, entry `c * n + i` is channel `c` of `s_i`.
//! The Jacobian is then made of the `n x n` blocks `d s_i' / d s_j`, and each
//! block's [`MapStructure`] is an upper bound proved by construction (see
//! [`crate::derive::linear`]): a diagonal map has no entry off the diagonal, a
//! `block[H, K]` parameter none outside its blocks, and sums and compositions
//! keep the least common multiple of their block sizes. From the blocks:
//!
//! - every block zero or diagonal, and no state depending on another
//!   (`d s_i' / d s_j = 0` for `i != j`): **diagonal**, in any order;
//! - any block dense: **dense** (a dense matrix applied to a state-dependent
//!   vector gives a dense block: such a cell is never called diagonal);
//! - states of different lengths (no interleaving): **dense**;
//! - otherwise, with `k` the least common multiple of the blocks' sizes (1 for
//!   diagonal): channels interact only within groups of `k`, so with `n` states
//!   interleaved the Jacobian is **block-diagonal with `K = n * k`** (ParaLSTM's
//!   diagonally coupled `(c, h)`: `K = 2 * 1`; one state through `block[H, 4]`:
//!   `K = 1 * 4`; two coupled states through `block[H, 4]`: `K = 8`), or
//!   diagonal when `K = 1`.
//!
//! These are upper bounds: an entry the structure allows may still be zero.

use std::fmt;

use crate::check::Cell;
use crate::derive::linear::lcm;
use crate::derive::{Derivatives, MapStructure};

/// The structure of the state Jacobian, states interleaved channel by channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JacobianStructure {
    /// Diagonal: each channel of each state depends only on itself.
    Diagonal,
    /// Block-diagonal with `block x block` blocks along the diagonal.
    BlockDiagonal {
        /// The side of a block.
        block: u64,
    },
    /// No known structure.
    Dense,
}

impl JacobianStructure {
    /// The block size: 1 for diagonal, `K` for block-diagonal, `None` for dense.
    pub fn block(&self) -> Option<u64> {
        match self {
            JacobianStructure::Diagonal => Some(1),
            JacobianStructure::BlockDiagonal { block } => Some(*block),
            JacobianStructure::Dense => None,
        }
    }

    /// `"diagonal"`, `"block-diagonal"` or `"dense"`.
    pub fn name(&self) -> &'static str {
        match self {
            JacobianStructure::Diagonal => "diagonal",
            JacobianStructure::BlockDiagonal { .. } => "block-diagonal",
            JacobianStructure::Dense => "dense",
        }
    }
}

impl fmt::Display for JacobianStructure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JacobianStructure::BlockDiagonal { block } => write!(f, "block-diagonal {block}"),
            other => f.write_str(other.name()),
        }
    }
}

/// The state Jacobian's structure and what it was proved from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateJacobian {
    /// The structure.
    pub structure: JacobianStructure,
    /// The structure of each block `d s_i' / d s_j` (`blocks[i][j]`), `None` for
    /// a zero block.
    pub blocks: Vec<Vec<Option<MapStructure>>>,
    /// Whether the states are interleaved channel by channel (they all have the
    /// same length); otherwise they are concatenated in declaration order.
    pub interleaved: bool,
    /// Why, in one sentence.
    pub reason: String,
}

/// Proves the structure of the state Jacobian of `cell` from its derivatives.
pub fn jacobian_structure(cell: &Cell, derivatives: &Derivatives) -> StateJacobian {
    let n = cell.states.len();
    let names: Vec<&str> = cell.states.values().map(|s| s.name.as_str()).collect();
    let blocks: Vec<Vec<Option<MapStructure>>> = (0..n)
        .map(|i| (0..n).map(|j| derivatives.state_block(i, j).map(|m| derivatives.maps.structure(Some(m)))).collect())
        .collect();
    let first_size = cell.states.values().next().map(|s| s.size);
    let interleaved = cell.states.values().all(|s| Some(s.size) == first_size);
    let pairs = || (0..n).flat_map(|i| (0..n).map(move |j| (i, j)));
    let block_name = |i: usize, j: usize| format!("d {}'/d {}", names[i], names[j]);
    let coupled = pairs().find(|&(i, j)| i != j && blocks[i][j].is_some());
    let structure_of =
        |structure, reason: String| StateJacobian { structure, blocks: blocks.clone(), interleaved, reason };
    if let Some((i, j)) = pairs().find(|&(i, j)| blocks[i][j] == Some(MapStructure::Dense)) {
        return structure_of(JacobianStructure::Dense, format!("{} is dense", block_name(i, j)));
    }
    let widest = pairs().filter_map(|(i, j)| blocks[i][j]).filter_map(MapStructure::block).try_fold(1u64, lcm);
    let Some(channel_block) = widest else {
        return structure_of(JacobianStructure::Dense, "the block sizes have no common multiple below 2^64".into());
    };
    if channel_block == 1 && coupled.is_none() {
        return structure_of(JacobianStructure::Diagonal, "every block is diagonal or zero".into());
    }
    if !interleaved {
        return structure_of(
            JacobianStructure::Dense,
            "the states have different lengths, so they cannot be interleaved".into(),
        );
    }
    let Some(block) = channel_block.checked_mul(n as u64) else {
        return structure_of(JacobianStructure::Dense, "the block size overflows".into());
    };
    let reason = match coupled {
        Some((i, j)) if channel_block == 1 => {
            format!("{} states coupled channel by channel ({} is diagonal and nonzero)", n, block_name(i, j))
        }
        Some((i, j)) => format!(
            "{n} coupled states ({} is nonzero) with {channel_block} x {channel_block} blocks per state",
            block_name(i, j)
        ),
        None => format!("{n} state(s) with {channel_block} x {channel_block} blocks"),
    };
    let structure = if block == 1 { JacobianStructure::Diagonal } else { JacobianStructure::BlockDiagonal { block } };
    structure_of(structure, reason)
}
