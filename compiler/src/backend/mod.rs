//! Back ends: from a derived cell to code for a device. Each is pure: text or
//! in-memory code out, no device touched.

pub mod clif;
pub mod wgsl;

/// The most unknowns a dense state Jacobian may have for Newton on the GPU: each
/// thread keeps a step's `K x K` Jacobian and its chunk's composed map in
/// registers and workgroup memory, so `K` stays small; wider dense cells run
/// sequentially there.
pub const GPU_DENSE_NEWTON_UNKNOWNS: u64 = 16;

/// The most unknowns a dense state Jacobian may have for Newton on the CPU:
/// Newton stores `K x K` floats per step and its scan costs `O(K^2)` to `O(K^3)`
/// per step, so wider dense cells run sequentially.
pub const CPU_DENSE_NEWTON_UNKNOWNS: u64 = 128;
