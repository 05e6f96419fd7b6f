//! Analyses of a derived step: the structure of its state Jacobian, which
//! decides how Newton's linear systems are solved, and the state-independent
//! work that can be hoisted out of the recurrence, and the input projections
//! among it, and which state updates are affine in the states (linear cells are
//! solved by one scan).

mod hoist;
mod linearity;
mod projections;
mod staged;
mod structure;

pub use hoist::{Dependence, Hoisting, frontier, hoisting};
pub use linearity::{Linearity, linearity};
pub use projections::{Projection, ProjectionKind, projections};
pub use staged::{StagedProduct, staged_products};
pub use structure::{JacobianStructure, StateJacobian, jacobian_structure};
