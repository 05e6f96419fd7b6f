//! A float64 interpreter of the IR and its derivatives: the reference against
//! which every back end (WGSL, cranelift, the solvers) is tested.
//!
//! [`Interpreter::evaluate`] computes every node of a step at one point;
//! [`Interpreter::updates`] and [`Interpreter::outputs`] read the results. The
//! derivative maps evaluate as dense matrices ([`Interpreter::map_matrix`]), the
//! state Jacobian also in its structured form
//! ([`Interpreter::structured_state_jacobian`]), and parameter derivatives both
//! as matrices and as the vector-Jacobian products a backward pass computes
//! ([`Interpreter::param_vjp`]). [`Interpreter::run_sequence`] runs the
//! recurrence over a batch of sequences and [`Interpreter::backward_sequence`]
//! differentiates it by backpropagation through time. The interpreter checks
//! the lengths of what it is given and never panics on data that passes.

mod dense;
mod eval;
mod jacobian;
mod sequence;
mod values;

pub use dense::Matrix;
pub use eval::{Evaluation, Interpreter, Value};
pub use jacobian::StructuredJacobian;
pub use sequence::{SequenceGradients, SequenceRun, Sequences};
pub use values::{InterpError, ParamValues, param_len};
