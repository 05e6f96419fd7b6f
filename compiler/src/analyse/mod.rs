//! Analyses of a derived step: the structure of its state Jacobian, which
//! decides how Newton's linear systems are solved, and the state-independent
//! work that can be hoisted out of the recurrence, and the input projections
//! among it.

mod hoist;
mod projections;
mod structure;

pub use hoist::{Dependence, Hoisting, frontier, hoisting};
pub use projections::{Projection, ProjectionKind, projections};
pub use structure::{JacobianStructure, StateJacobian, jacobian_structure};
