//! Device memory shared with another API on the same GPU: a storage buffer
//! whose memory is exported as an opaque POSIX file descriptor (Vulkan's
//! `VK_KHR_external_memory_fd`), which CUDA maps into its own address space
//! (`cuImportExternalMemory` with a dedicated opaque-fd handle), so that CUDA
//! tensors reach the kernels with at most a device-to-device copy. And the
//! device's UUID, which the other API uses to find the same GPU.
//!
//! Only the Vulkan back end of wgpu exports memory; any other device, or a
//! Vulkan driver without the extension, gets an error that says so.

use std::os::fd::{FromRawFd, OwnedFd};

use ash::vk;
use wgpu::hal::api::Vulkan;

use super::device::{Gpu, GpuError};
use super::memory::{GpuBuffer, STORAGE_USAGE};

/// The memory of an exported buffer, as another API imports it.
#[derive(Debug)]
pub struct ExportedMemory {
    /// The opaque file descriptor (each import takes its own: see
    /// [`ExportedMemory::descriptor`]).
    fd: OwnedFd,
    /// The size of the allocation in bytes (at least the buffer's), which an
    /// import must name.
    pub allocation_bytes: u64,
}

impl ExportedMemory {
    /// A new descriptor of the memory, owned by the caller (an import into
    /// CUDA takes ownership of the descriptor it is given).
    pub fn descriptor(&self) -> std::io::Result<OwnedFd> {
        self.fd.try_clone()
    }
}

fn unsupported(what: &str) -> GpuError {
    GpuError::Device(format!("this device cannot share memory with other APIs: {what}"))
}

fn vulkan_error(what: &str) -> impl Fn(vk::Result) -> GpuError + '_ {
    move |e| GpuError::Device(format!("exporting device memory: {what} failed: {e}"))
}

impl Gpu {
    /// A storage buffer of `len` words (whole 16-byte quads, as
    /// [`Gpu::storage`]) in device-local memory exported as an opaque file
    /// descriptor; up to the device's largest buffer, bound by ranges of at
    /// most a binding each. Counted in [`Gpu::allocations`] like every buffer.
    pub fn exported_storage(&self, label: &str, len: usize) -> Result<(GpuBuffer, ExportedMemory), GpuError> {
        let bytes = (len.max(1).next_multiple_of(4) * 4) as u64;
        self.check_buffer_bytes(label, bytes)?;
        // SAFETY: the hal device is only used to create and bind the buffer
        // and its memory, which are handed to wgpu below and freed by its
        // drop callback, after wgpu is done with the buffer.
        let hal = unsafe { self.device.as_hal::<Vulkan>() }.ok_or_else(|| unsupported("it is not a Vulkan device"))?;
        if !hal.enabled_device_extensions().contains(&ash::khr::external_memory_fd::NAME) {
            return Err(unsupported("the Vulkan driver has no VK_KHR_external_memory_fd"));
        }
        let device = hal.raw_device().clone();
        let instance = hal.shared_instance().raw_instance();
        let handle = vk::ExternalMemoryHandleTypeFlags::OPAQUE_FD;
        let mut external = vk::ExternalMemoryBufferCreateInfo::default().handle_types(handle);
        let info = vk::BufferCreateInfo::default()
            .size(bytes)
            .usage(
                vk::BufferUsageFlags::STORAGE_BUFFER
                    | vk::BufferUsageFlags::TRANSFER_SRC
                    | vk::BufferUsageFlags::TRANSFER_DST,
            )
            .sharing_mode(vk::SharingMode::EXCLUSIVE)
            .push_next(&mut external);
        // SAFETY: valid create infos on a live device.
        let buffer = unsafe { device.create_buffer(&info, None) }.map_err(vulkan_error("vkCreateBuffer"))?;
        let requirements = unsafe { device.get_buffer_memory_requirements(buffer) };
        let properties = unsafe { instance.get_physical_device_memory_properties(hal.raw_physical_device()) };
        let memory_type = (0..properties.memory_type_count).find(|&i| {
            requirements.memory_type_bits & (1 << i) != 0
                && properties.memory_types[i as usize].property_flags.contains(vk::MemoryPropertyFlags::DEVICE_LOCAL)
        });
        let Some(memory_type) = memory_type else {
            unsafe { device.destroy_buffer(buffer, None) };
            return Err(unsupported("no device-local memory type can back an exported buffer"));
        };
        let mut export = vk::ExportMemoryAllocateInfo::default().handle_types(handle);
        let mut dedicated = vk::MemoryDedicatedAllocateInfo::default().buffer(buffer);
        let allocate = vk::MemoryAllocateInfo::default()
            .allocation_size(requirements.size)
            .memory_type_index(memory_type)
            .push_next(&mut export)
            .push_next(&mut dedicated);
        let memory = match unsafe { device.allocate_memory(&allocate, None) } {
            Ok(memory) => memory,
            Err(e) => {
                unsafe { device.destroy_buffer(buffer, None) };
                return Err(vulkan_error("vkAllocateMemory")(e));
            }
        };
        let release = {
            let device = device.clone();
            move || unsafe {
                device.destroy_buffer(buffer, None);
                device.free_memory(memory, None);
            }
        };
        if let Err(e) = unsafe { device.bind_buffer_memory(buffer, memory, 0) } {
            release();
            return Err(vulkan_error("vkBindBufferMemory")(e));
        }
        let fd_api = ash::khr::external_memory_fd::Device::new(instance, &device);
        let fd_info = vk::MemoryGetFdInfoKHR::default().memory(memory).handle_type(handle);
        let fd = match unsafe { fd_api.get_memory_fd(&fd_info) } {
            // SAFETY: a new descriptor that the call gives to its caller.
            Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd) },
            Err(e) => {
                release();
                return Err(vulkan_error("vkGetMemoryFdKHR")(e));
            }
        };
        // SAFETY: the buffer was made on this device with the usages below;
        // its memory outlives it (both are released by the callback, which
        // wgpu runs when it drops the buffer).
        let hal_buffer = unsafe { wgpu::hal::vulkan::Buffer::from_raw_externally_owned(buffer, Box::new(release)) };
        drop(hal);
        let buffer = unsafe {
            self.device.create_buffer_from_hal::<Vulkan>(
                hal_buffer,
                &wgpu::BufferDescriptor {
                    label: Some(label),
                    size: bytes,
                    usage: STORAGE_USAGE,
                    mapped_at_creation: false,
                },
            )
        };
        let buffer = self.counted(buffer, len);
        Ok((buffer, ExportedMemory { fd, allocation_bytes: requirements.size }))
    }

    /// The device's UUID (`VkPhysicalDeviceIDProperties::deviceUUID`, which is
    /// CUDA's `cuDeviceGetUuid` of the same GPU), where the device is a Vulkan one.
    pub fn device_uuid(&self) -> Option<[u8; 16]> {
        // SAFETY: a read-only query of the physical device.
        let hal = unsafe { self.device.as_hal::<Vulkan>() }?;
        Some(physical_uuid(hal.shared_instance().raw_instance(), hal.raw_physical_device()))
    }
}

/// The UUID of `adapter`'s GPU (as [`Gpu::device_uuid`]), where it is a Vulkan one.
pub(super) fn adapter_uuid(adapter: &wgpu::Adapter) -> Option<[u8; 16]> {
    // SAFETY: a read-only query of the physical device.
    let hal = unsafe { adapter.as_hal::<Vulkan>() }?;
    Some(physical_uuid(hal.shared_instance().raw_instance(), hal.raw_physical_device()))
}

fn physical_uuid(instance: &ash::Instance, physical: vk::PhysicalDevice) -> [u8; 16] {
    let mut id = vk::PhysicalDeviceIDProperties::default();
    {
        let mut properties = vk::PhysicalDeviceProperties2::default().push_next(&mut id);
        // SAFETY: a query of a live physical device into structures it fills.
        unsafe { instance.get_physical_device_properties2(physical, &mut properties) };
    }
    id.device_uuid
}

/// A UUID as 32 lowercase hex digits (CUDA's and `nvidia-smi`'s order, without dashes).
pub fn uuid_hex(uuid: &[u8; 16]) -> String {
    uuid.iter().map(|b| format!("{b:02x}")).collect()
}

/// The 16 bytes of a UUID written as hex digits, dashes allowed (`GPU-` prefix too).
pub(super) fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let digits: Vec<u8> = text
        .trim()
        .trim_start_matches("GPU-")
        .chars()
        .filter(|&c| c != '-')
        .map(|c| c.to_digit(16).map(|d| d as u8))
        .collect::<Option<_>>()?;
    if digits.len() != 32 {
        return None;
    }
    let mut uuid = [0u8; 16];
    for (byte, pair) in uuid.iter_mut().zip(digits.chunks(2)) {
        *byte = pair[0] << 4 | pair[1];
    }
    Some(uuid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_read_as_nvidia_smi_and_cuda_write_them() {
        let uuid = parse_uuid("GPU-0123abcd-4567-89ef-0123-456789ABCDEF").expect("a uuid");
        assert_eq!(uuid_hex(&uuid), "0123abcd456789ef0123456789abcdef");
        assert_eq!(parse_uuid("0123"), None);
        assert_eq!(parse_uuid("zz23abcd456789ef0123456789abcdef"), None);
    }
}
