//! Analyses of a derived step: the structure of its state Jacobian, which
//! decides how Newton's linear systems are solved, and the state-independent
//! work that can be hoisted out of the recurrence.

mod hoist;
mod structure;

pub use hoist::{Hoisting, hoisting};
pub use structure::{JacobianStructure, StateJacobian, jacobian_structure};
