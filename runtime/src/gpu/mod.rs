//! The GPU: one wgpu device, chosen among the adapters, with the buffers, compiled
//! kernels and dispatches that the solvers need, and each compiled cell's
//! resident workspace.

mod assembly;
mod auto;
mod backward;
mod cell;
mod copy;
mod deferred;
mod device;
mod exchange;
mod extensions;
mod gradient_products;
mod interop;
mod kernel;
mod memory;
mod pass;
mod pipeline_stats;
mod projections;
mod timeline;
mod timing;
mod workspace;

pub use backward::BackwardTimes;
pub use cell::{GpuCell, GpuTape, Outputs};
pub use device::{ADAPTER_ENV, AdapterSummary, Gpu, GpuError, SHADER_CHECKS_ENV};
pub use exchange::Exchange;
pub use interop::{ExportedMemory, uuid_hex};
pub use kernel::{Binding, Kernel};
pub use memory::GpuBuffer;
pub use pipeline_stats::PIPELINE_STATS_ENV;
pub use timeline::{SharedTimeline, TimelinePoints};
