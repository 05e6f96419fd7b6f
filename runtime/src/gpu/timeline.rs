//! A timeline semaphore shared with another API on the same GPU (Vulkan's
//! `VK_KHR_external_semaphore_fd`, exported as an opaque file descriptor,
//! which CUDA imports as a timeline semaphore), so that the two order their
//! work on the device without the host waiting for either: the other API
//! signals a value once the tensors it wrote into an exchange are ready, the
//! call's first submission waits for that value, and the call signals the
//! next value after its last submission, which the other API's stream waits
//! for before it reads the results.
//!
//! The device is opened with the extension where the driver has it
//! (`extensions.rs`); elsewhere [`Gpu::shares_semaphores`] is false and calls
//! synchronise through the host as before.

use std::os::fd::{FromRawFd, OwnedFd};

use ash::vk;
use wgpu::hal::api::Vulkan;

use super::device::{Gpu, GpuError};

/// The values one call waits for (before its first kernel) and signals
/// (after its last).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimelinePoints {
    /// The value the call's first submission waits for.
    pub wait: u64,
    /// The value signalled when the call's work is done (greater than `wait`).
    pub signal: u64,
}

impl TimelinePoints {
    /// Waits for `wait`, signals the next value.
    pub fn after(wait: u64) -> TimelinePoints {
        TimelinePoints { wait, signal: wait + 1 }
    }
}

/// A timeline semaphore whose payload another API imports.
pub struct SharedTimeline {
    semaphore: vk::Semaphore,
    device: ash::Device,
    fd: OwnedFd,
}

impl std::fmt::Debug for SharedTimeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedTimeline").field("semaphore", &self.semaphore).finish_non_exhaustive()
    }
}

impl SharedTimeline {
    /// A new descriptor of the semaphore, owned by the caller (an import into
    /// CUDA takes ownership of the descriptor it is given).
    pub fn descriptor(&self) -> std::io::Result<OwnedFd> {
        self.fd.try_clone()
    }

    /// The value the semaphore holds now (for tests and diagnostics).
    pub fn value(&self) -> Result<u64, GpuError> {
        // SAFETY: a query of a live timeline semaphore.
        unsafe { self.device.get_semaphore_counter_value(self.semaphore) }
            .map_err(|e| GpuError::Device(format!("vkGetSemaphoreCounterValue failed: {e}")))
    }

    /// Signals `value` from the host (for tests: what the other API does).
    pub fn signal_from_host(&self, value: u64) -> Result<(), GpuError> {
        let info = vk::SemaphoreSignalInfo::default().semaphore(self.semaphore).value(value);
        // SAFETY: a host signal of a live timeline semaphore to a larger value.
        unsafe { self.device.signal_semaphore(&info) }
            .map_err(|e| GpuError::Device(format!("vkSignalSemaphore failed: {e}")))
    }
}

impl Drop for SharedTimeline {
    fn drop(&mut self) {
        // SAFETY: no submission may still use the semaphore once the device is
        // idle; the other API's import holds its own reference to the payload.
        unsafe {
            let _ = self.device.device_wait_idle();
            self.device.destroy_semaphore(self.semaphore, None);
        }
    }
}

fn vulkan_error(what: &str) -> impl Fn(vk::Result) -> GpuError + '_ {
    move |e| GpuError::Device(format!("sharing a semaphore: {what} failed: {e}"))
}

impl Gpu {
    /// A timeline semaphore exported as an opaque file descriptor, starting
    /// at 0. Raises an error on a device without
    /// `VK_KHR_external_semaphore_fd` ([`Gpu::shares_semaphores`]).
    pub fn shared_timeline(&self) -> Result<SharedTimeline, GpuError> {
        let unsupported = || GpuError::Device("this device cannot share semaphores with other APIs".into());
        if !self.shares_semaphores() {
            return Err(unsupported());
        }
        // SAFETY: the hal device is only used to create the semaphore, which
        // this module destroys.
        let hal = unsafe { self.device.as_hal::<Vulkan>() }.ok_or_else(unsupported)?;
        let device = hal.raw_device().clone();
        let instance = hal.shared_instance().raw_instance();
        let handle = vk::ExternalSemaphoreHandleTypeFlags::OPAQUE_FD;
        let mut export = vk::ExportSemaphoreCreateInfo::default().handle_types(handle);
        let mut timeline =
            vk::SemaphoreTypeCreateInfo::default().semaphore_type(vk::SemaphoreType::TIMELINE).initial_value(0);
        let info = vk::SemaphoreCreateInfo::default().push_next(&mut export).push_next(&mut timeline);
        // SAFETY: valid create infos on a live device.
        let semaphore = unsafe { device.create_semaphore(&info, None) }.map_err(vulkan_error("vkCreateSemaphore"))?;
        let fd_api = ash::khr::external_semaphore_fd::Device::new(instance, &device);
        let fd_info = vk::SemaphoreGetFdInfoKHR::default().semaphore(semaphore).handle_type(handle);
        match unsafe { fd_api.get_semaphore_fd(&fd_info) } {
            // SAFETY: a new descriptor that the call gives to its caller.
            Ok(fd) => Ok(SharedTimeline { semaphore, device, fd: unsafe { OwnedFd::from_raw_fd(fd) } }),
            Err(e) => {
                unsafe { device.destroy_semaphore(semaphore, None) };
                Err(vulkan_error("vkGetSemaphoreFdKHR")(e))
            }
        }
    }

    /// Makes the next submission wait until `timeline` reaches `value`.
    pub(super) fn wait_on_next_submission(&self, timeline: &SharedTimeline, value: u64) -> Result<(), GpuError> {
        // SAFETY: the semaphore lives as long as its exchange, which outlives
        // the submission (its drop waits for the device).
        let queue = unsafe { self.queue.as_hal::<Vulkan>() }
            .ok_or_else(|| GpuError::Device("the queue is not a Vulkan one".into()))?;
        queue.add_wait_semaphore(timeline.semaphore, Some(value), vk::PipelineStageFlags::ALL_COMMANDS);
        Ok(())
    }

    /// Makes the next submission signal `value` on `timeline` when it is done.
    pub(super) fn signal_on_next_submission(&self, timeline: &SharedTimeline, value: u64) -> Result<(), GpuError> {
        // SAFETY: as in `wait_on_next_submission`.
        let queue = unsafe { self.queue.as_hal::<Vulkan>() }
            .ok_or_else(|| GpuError::Device("the queue is not a Vulkan one".into()))?;
        queue.add_signal_semaphore(timeline.semaphore, Some(value));
        Ok(())
    }

    /// Signals `value` on `timeline` once everything submitted so far is
    /// done (by an empty submission that signals it).
    pub(super) fn signal_after_submitted(&self, timeline: &SharedTimeline, value: u64) -> Result<(), GpuError> {
        self.signal_on_next_submission(timeline, value)?;
        self.queue.submit([]);
        Ok(())
    }
}
