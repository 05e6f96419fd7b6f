//! Opening the device with the Vulkan extensions rnnc uses where the driver
//! has them: `VK_KHR_external_semaphore_fd` (calls ordered with CUDA on the
//! device: `timeline.rs`) and, when asked for, `VK_KHR_pipeline_executable_properties`
//! (the driver's figures for each kernel: `pipeline_stats.rs`). Elsewhere (no
//! Vulkan, or a driver without them) the device is opened as wgpu opens it.

use std::ffi::CStr;

use ash::vk;
use wgpu::hal::api::Vulkan;

/// The optional extensions the device was opened with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Extensions {
    /// `VK_KHR_external_semaphore_fd`: [`super::Gpu::shares_semaphores`].
    pub semaphores: bool,
    /// `VK_KHR_pipeline_executable_properties` with its feature on.
    pub pipeline_stats: bool,
}

/// Opens a device on `adapter` with `descriptor` and, on a Vulkan adapter
/// whose driver has them, the semaphore extension and (if `pipeline_stats`)
/// the pipeline statistics one; says which it enabled.
pub(super) fn open_device(
    adapter: &wgpu::Adapter,
    descriptor: &wgpu::DeviceDescriptor<'_>,
    pipeline_stats: bool,
) -> Result<(wgpu::Device, wgpu::Queue, Extensions), wgpu::RequestDeviceError> {
    let mut stats_feature =
        vk::PhysicalDevicePipelineExecutablePropertiesFeaturesKHR::default().pipeline_executable_info(true);
    // SAFETY: the hal adapter is only queried and asked to open a device,
    // which wgpu then takes over.
    let opened = unsafe { adapter.as_hal::<Vulkan>() }.and_then(|hal| {
        let has = |name: &CStr| hal.physical_device_capabilities().supports_extension(name);
        let enabled = Extensions {
            semaphores: has(ash::khr::external_semaphore_fd::NAME),
            pipeline_stats: pipeline_stats && has(ash::khr::pipeline_executable_properties::NAME),
        };
        if enabled == Extensions::default() {
            return None;
        }
        let feature = &mut stats_feature;
        let callback: Box<wgpu::hal::vulkan::CreateDeviceCallback<'_>> = Box::new(move |args| {
            if enabled.semaphores {
                args.extensions.push(ash::khr::external_semaphore_fd::NAME);
            }
            if enabled.pipeline_stats {
                args.extensions.push(ash::khr::pipeline_executable_properties::NAME);
                *args.create_info = args.create_info.push_next(feature);
            }
        });
        // SAFETY: the features and limits are the descriptor's, which the
        // adapter supports; the callback only adds extensions it has (and the
        // feature of one).
        let device = unsafe {
            hal.open_with_callback(
                descriptor.required_features,
                &descriptor.required_limits,
                &descriptor.memory_hints,
                Some(callback),
            )
        };
        device.ok().map(|device| (device, enabled))
    });
    match opened {
        Some((device, enabled)) => {
            // SAFETY: the hal device was opened on this adapter with the
            // descriptor's features and limits.
            let (device, queue) = unsafe { adapter.create_device_from_hal::<Vulkan>(device, descriptor) }?;
            Ok((device, queue, enabled))
        }
        None => {
            let (device, queue) = pollster::block_on(adapter.request_device(descriptor))?;
            Ok((device, queue, Extensions::default()))
        }
    }
}
