//! Linearity in the states: which state updates are affine in the states.
//!
//! A state's update `s_i' = f_i(s, x)` is affine in the states exactly when
//! its Jacobian blocks `d s_i' / d s_j` do not depend on any state: then
//! `f_i(s) = f_i(0) + sum_j J_ij s_j` with `J_ij` a function of the inputs
//! and parameters alone. The proof is read from the derivative maps: a block
//! is state-free when every diagonal leaf of its map is a node that depends on
//! no state's previous value (matrix leaves are parameters). A function whose
//! derivative is piecewise (`relu(h)`, `min(h, x)`, `abs(h)`) has a
//! state-dependent derivative (`step(h)`, ...), so it is never called linear.
//!
//! A cell whose every update is affine is *linear*: the linear recurrence that
//! Newton solves in each iteration is then the cell itself, and one
//! linearisation at any trajectory, composed by the parallel scan, is the exact
//! solution (the `scan` method: no iteration, no convergence test).

use crate::derive::{Derivatives, Linear};
use crate::ir::Ir;

use super::Dependence;

/// Which state updates are affine in the states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Linearity {
    /// Per state (indexed like `Cell::states`): whether its update is affine in
    /// every state.
    pub states: Vec<bool>,
}

impl Linearity {
    /// Whether the whole cell is linear in its states (every update affine),
    /// so that one scan solves it.
    pub fn is_linear(&self) -> bool {
        self.states.iter().all(|&linear| linear)
    }
}

/// The linearity of every state update of `ir`, from `derivatives`: see the
/// [module documentation](self).
pub fn linearity(ir: &Ir, derivatives: &Derivatives) -> Linearity {
    let dependence = Dependence::of(&ir.graph);
    // Whether each map depends on a state, in one pass: operands precede users.
    let mut varying = vec![false; derivatives.maps.len()];
    for (handle, map) in derivatives.maps.iter() {
        varying[handle.index()] = match *map {
            Linear::Diag { diag, .. } => dependence.varying[diag.index()],
            // Parameters, and the constant maps of reductions and slices.
            Linear::Matrix(_)
            | Linear::MatrixT(_)
            | Linear::Ones { .. }
            | Linear::Select { .. }
            | Linear::Embed { .. }
            | Linear::Spread { .. }
            | Linear::Fold { .. } => false,
            Linear::Compose(a, b) | Linear::Sum(a, b) => varying[a.index()] || varying[b.index()],
        };
    }
    let states = derivatives
        .updates
        .iter()
        .map(|update| update.states.iter().all(|block| block.is_none_or(|map| !varying[map.index()])))
        .collect();
    Linearity { states }
}
