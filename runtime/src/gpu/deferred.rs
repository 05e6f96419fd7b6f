//! The report of a forward through an exchange that nothing waited for (a
//! call ordered by a shared timeline: [`super::TimelinePoints`]). Its pass
//! copies the statistics into a readback buffer of the exchange's own, and
//! they are read when the report is asked for, or before the next such pass
//! reuses the buffer, waiting for that pass's submission only.

use std::sync::{Mutex, PoisonError};

use rnnc_compiler::backend::wgsl::Stats;

use super::cell::Run;
use super::device::{Gpu, GpuError};
use super::pass::{PassStats, StatsSummary};
use super::timing::PhaseTimes;
use crate::solve::ForwardReport;

/// An exchange's deferred report: at most one pass in flight, and the last
/// report read.
#[derive(Default)]
pub(super) struct DeferredReport {
    readback: Mutex<Option<(wgpu::Buffer, u64)>>,
    pending: Mutex<Option<Pending>>,
    ready: Mutex<Option<ForwardReport>>,
}

struct Pending {
    readback: wgpu::Buffer,
    bytes: u64,
    submission: wgpu::SubmissionIndex,
    summary: StatsSummary,
    run: Run,
}

impl DeferredReport {
    /// The readback buffer for a pass's `bytes` of statistics (the previous
    /// pass's read first, if it is still pending).
    pub(super) fn readback(&self, gpu: &Gpu, bytes: u64) -> Result<wgpu::Buffer, GpuError> {
        self.settle(gpu)?;
        let mut readback = self.readback.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((buffer, size)) = &*readback
            && *size >= bytes
        {
            return Ok(buffer.clone());
        }
        let size = bytes.max(4);
        let buffer =
            gpu.create("deferred statistics", size, wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST)?;
        *readback = Some((buffer.clone(), size));
        Ok(buffer)
    }

    /// Records that `submission` copies a pass's statistics into `readback`.
    pub(super) fn defer(
        &self,
        readback: wgpu::Buffer,
        bytes: u64,
        submission: wgpu::SubmissionIndex,
        summary: StatsSummary,
        run: Run,
    ) {
        let pending = Pending { readback, bytes, submission, summary, run };
        *self.pending.lock().unwrap_or_else(PoisonError::into_inner) = Some(pending);
    }

    /// The last deferred pass's report (waiting for its submission if it is
    /// not done), once; `None` when there is none to give.
    pub(super) fn take(&self, gpu: &Gpu) -> Result<Option<ForwardReport>, GpuError> {
        self.settle(gpu)?;
        Ok(self.ready.lock().unwrap_or_else(PoisonError::into_inner).take())
    }

    /// Reads the pending pass's statistics, if any, into its report.
    fn settle(&self, gpu: &Gpu) -> Result<(), GpuError> {
        let Some(pending) = self.pending.lock().unwrap_or_else(PoisonError::into_inner).take() else {
            return Ok(());
        };
        let records =
            gpu.with_mapped_after(&pending.readback, pending.bytes, pending.submission, |words: &[u32]| {
                words.chunks(Stats::WORDS).map(Stats::from_words).collect::<Vec<_>>()
            })?;
        let stats = pending.summary.of(&records, PassStats::timed(PhaseTimes::default(), 0.0));
        *self.ready.lock().unwrap_or_else(PoisonError::into_inner) = Some(pending.run.report(gpu, &stats));
        Ok(())
    }
}
