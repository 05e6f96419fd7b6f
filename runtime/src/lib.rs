//! The rnnc runtime: everything that touches data and devices. The compiler is pure
//! (source in, artefacts out); this crate reads and checks tensors, owns devices and
//! memory, and runs the solvers.
#![deny(missing_docs)]

pub mod cpu;
pub mod data;
pub mod gpu;
pub mod memory;
pub mod settings;
pub mod solve;

pub use settings::SettingsError;
pub use solve::{Damping, ForwardReport, GradientBuffers, Method, NewtonSettings, SegmentMethods};
