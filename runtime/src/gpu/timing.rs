//! GPU timestamps: each phase of a solve is one compute pass whose beginning and
//! end the device stamps, where the adapter has timestamp queries; the times are
//! then the kernels' own, free of uploads, read-backs and host scheduling.

use super::device::{Gpu, GpuError};

/// The timed phases of a forward or backward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// The input projections (matrix products) before the recurrence.
    Projection = 0,
    /// The recurrence kernel's dispatches (every window).
    Recurrence = 1,
    /// The backward recurrence (reverse scan or sequential backward).
    BackwardScan = 2,
    /// The projection matrices' gradients (matrix products `dP^T X`).
    WeightGradients = 3,
    /// The inputs' gradients through the projections (matrix products `dP W`).
    InputGradients = 4,
}

const PHASES: usize = 5;

/// The query set and its resolve and read-back buffers, made once per
/// workspace.
pub(super) struct Timer {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    /// Nanoseconds per tick.
    period: f64,
}

/// Per phase, the milliseconds of one submission (`None`: not recorded).
pub(super) type PhaseTimes = [Option<f64>; PHASES];

impl Timer {
    /// A timer, where the device has timestamp queries.
    pub(super) fn new(gpu: &Gpu) -> Result<Option<Timer>, GpuError> {
        if !gpu.has_timestamps() {
            return Ok(None);
        }
        let set = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("phase timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count: 2 * PHASES as u32,
        });
        let bytes = 16 * PHASES as u64;
        let resolve = gpu.create(
            "timestamps",
            wgpu::QUERY_RESOLVE_BUFFER_ALIGNMENT * PHASES as u64,
            wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
        )?;
        let readback =
            gpu.create("timestamps readback", bytes, wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST)?;
        Ok(Some(Timer { set, resolve, readback, period: f64::from(gpu.queue.get_timestamp_period()) }))
    }

    /// The timestamp writes of a compute pass timing `phase`.
    pub(super) fn writes(&self, phase: Phase) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        let first = 2 * phase as u32;
        Some(wgpu::ComputePassTimestampWrites {
            query_set: &self.set,
            beginning_of_pass_write_index: Some(first),
            end_of_pass_write_index: Some(first + 1),
        })
    }

    /// Records the resolution of `phases` (those timed in this submission) and
    /// their copy to the read-back buffer.
    pub(super) fn resolve(&self, encoder: &mut wgpu::CommandEncoder, phases: &[Phase]) {
        for &phase in phases {
            let first = 2 * phase as u32;
            // Resolved at an aligned offset, copied next to the others.
            let at = wgpu::QUERY_RESOLVE_BUFFER_ALIGNMENT * phase as u64;
            encoder.resolve_query_set(&self.set, first..first + 2, &self.resolve, at);
            encoder.copy_buffer_to_buffer(&self.resolve, at, &self.readback, u64::from(first) * 8, 16);
        }
    }

    /// The times of `phases`, once the submission that resolved them is done.
    pub(super) fn read(&self, gpu: &Gpu, phases: &[Phase]) -> Result<PhaseTimes, GpuError> {
        let mut times = [None; PHASES];
        if phases.is_empty() {
            return Ok(times);
        }
        let ticks: Vec<u64> = gpu.map_read(&self.readback, 16 * PHASES as u64)?;
        for &phase in phases {
            let (begin, end) = (ticks[2 * phase as usize], ticks[2 * phase as usize + 1]);
            times[phase as usize] = Some(end.saturating_sub(begin) as f64 * self.period * 1e-6);
        }
        Ok(times)
    }
}
