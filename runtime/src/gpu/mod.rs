//! The GPU: one wgpu device, chosen among the adapters, with the buffers, compiled
//! kernels and dispatches that the solvers need. Cell-independent.

mod backward;
mod cell;
mod device;
mod kernel;
mod memory;

pub use cell::{GpuCell, Outputs};
pub use device::{ADAPTER_ENV, AdapterSummary, Gpu, GpuError};
pub use kernel::{Binding, Kernel};
pub use memory::GpuBuffer;
