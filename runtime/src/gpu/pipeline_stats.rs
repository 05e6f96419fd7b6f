//! The driver's own figures for each kernel (`RNNC_PIPELINE_STATS`), through
//! `VK_KHR_pipeline_executable_properties`: registers, local (spilled) and
//! shared memory, instruction counts, as the driver chooses to report them.
//! Profilers such as ncu do not see Vulkan kernels, so this is how kernel work
//! learns what the driver's compiler made of a kernel (docs/PERFORMANCE.md).
//!
//! A diagnostic: with the variable set, each kernel the runtime compiles is
//! also translated to SPIR-V here (as wgpu translates it: no runtime checks,
//! workgroup memory zeroed by the driver), built once more by the driver with
//! statistics captured, and its statistics printed to standard error, one line
//! a pipeline executable. Without the extension it prints why, once a kernel.

use std::ffi::{CStr, CString, FromBytesUntilNulError};
use std::io::Write as _;

use ash::vk;
use wgpu::hal::api::Vulkan;

use super::device::Gpu;

/// The environment variable that asks for the statistics (`1`), printed to
/// standard error.
pub const PIPELINE_STATS_ENV: &str = "RNNC_PIPELINE_STATS";

/// Whether [`PIPELINE_STATS_ENV`] asks for them (set, and neither empty nor `0`).
pub(super) fn wanted() -> bool {
    std::env::var(PIPELINE_STATS_ENV).is_ok_and(|value| !matches!(value.trim(), "" | "0"))
}

/// Prints the driver's statistics for `entry` of `source` (the kernel
/// `label`), when they were asked for; a failure is printed, never raised.
pub(super) fn report(gpu: &Gpu, label: &str, source: &str, entry: &str, constants: &[(&str, f64)]) {
    if !wanted() {
        return;
    }
    let mut err = std::io::stderr().lock();
    if !gpu.extensions.pipeline_stats {
        let _ =
            writeln!(err, "rnnc: pipeline {label}::{entry}: the driver has no VK_KHR_pipeline_executable_properties");
        return;
    }
    match statistics(gpu, source, label, entry, constants) {
        Ok(lines) => {
            for line in lines {
                let _ = writeln!(err, "rnnc: pipeline {label}::{entry}: {line}");
            }
        }
        Err(reason) => {
            let _ = writeln!(err, "rnnc: pipeline {label}::{entry}: no statistics: {reason}");
        }
    }
}

/// One line per executable of the pipeline: its name and every statistic.
fn statistics(
    gpu: &Gpu,
    source: &str,
    label: &str,
    entry: &str,
    constants: &[(&str, f64)],
) -> Result<Vec<String>, String> {
    let (module, info) = rnnc_compiler::backend::wgsl::validate(label, source).map_err(|e| e.to_string())?;
    let constants = constants.iter().map(|&(name, value)| (name.to_owned(), value)).collect();
    let (module, info) = naga::back::pipeline_constants::process_overrides(
        &module,
        &info,
        Some((naga::ShaderStage::Compute, entry)),
        &constants,
    )
    .map_err(|e| e.to_string())?;
    // SAFETY: the hal device is only used to create, query and destroy the
    // objects below, all destroyed before returning.
    let hal = unsafe { gpu.device.as_hal::<Vulkan>() }.ok_or("not a Vulkan device")?;
    let instance = hal.shared_instance().raw_instance();
    let device = hal.raw_device();
    // SAFETY: a valid physical device of this instance.
    let api = unsafe { instance.get_physical_device_properties(hal.raw_physical_device()) }.api_version;
    let options = naga::back::spv::Options {
        lang_version: if api >= vk::API_VERSION_1_3 { (1, 6) } else { (1, 3) },
        bounds_check_policies: naga::proc::BoundsCheckPolicies {
            index: naga::proc::BoundsCheckPolicy::Unchecked,
            buffer: naga::proc::BoundsCheckPolicy::Unchecked,
            image_load: naga::proc::BoundsCheckPolicy::Unchecked,
            binding_array: naga::proc::BoundsCheckPolicy::Unchecked,
        },
        zero_initialize_workgroup_memory: naga::back::spv::ZeroInitializeWorkgroupMemoryMode::Native,
        force_loop_bounding: false,
        ..Default::default()
    };
    let pipeline_options =
        naga::back::spv::PipelineOptions { shader_stage: naga::ShaderStage::Compute, entry_point: entry.to_owned() };
    let words =
        naga::back::spv::write_vec(&module, &info, &options, Some(&pipeline_options)).map_err(|e| e.to_string())?;
    let bindings: Vec<vk::DescriptorSetLayoutBinding<'_>> = module
        .global_variables
        .iter()
        .filter_map(|(_, var)| {
            let binding = var.binding.as_ref().filter(|b| b.group == 0)?;
            let kind = match var.space {
                naga::AddressSpace::Uniform => vk::DescriptorType::UNIFORM_BUFFER,
                naga::AddressSpace::Storage { .. } => vk::DescriptorType::STORAGE_BUFFER,
                _ => return None,
            };
            Some(
                vk::DescriptorSetLayoutBinding::default()
                    .binding(binding.binding)
                    .descriptor_type(kind)
                    .descriptor_count(1)
                    .stage_flags(vk::ShaderStageFlags::COMPUTE),
            )
        })
        .collect();
    let name = CString::new(entry).map_err(|e| e.to_string())?;
    let properties = ash::khr::pipeline_executable_properties::Device::new(instance, device);
    let failed = |what: &'static str| move |e: vk::Result| format!("{what}: {e}");
    let mut objects = Objects::default_for(device);
    // SAFETY: every create info is complete and valid for this device; the
    // objects are destroyed when `objects` drops, after their last use.
    unsafe {
        objects.shader = device
            .create_shader_module(&vk::ShaderModuleCreateInfo::default().code(&words), None)
            .map_err(failed("vkCreateShaderModule"))?;
        objects.set_layout = device
            .create_descriptor_set_layout(&vk::DescriptorSetLayoutCreateInfo::default().bindings(&bindings), None)
            .map_err(failed("vkCreateDescriptorSetLayout"))?;
        let set_layouts = [objects.set_layout];
        objects.layout = device
            .create_pipeline_layout(&vk::PipelineLayoutCreateInfo::default().set_layouts(&set_layouts), None)
            .map_err(failed("vkCreatePipelineLayout"))?;
        let stage = vk::PipelineShaderStageCreateInfo::default()
            .stage(vk::ShaderStageFlags::COMPUTE)
            .module(objects.shader)
            .name(&name);
        let create = vk::ComputePipelineCreateInfo::default()
            .flags(vk::PipelineCreateFlags::CAPTURE_STATISTICS_KHR)
            .stage(stage)
            .layout(objects.layout);
        objects.pipeline = device
            .create_compute_pipelines(vk::PipelineCache::null(), &[create], None)
            .map_err(|(_, e)| format!("vkCreateComputePipelines: {e}"))?[0];
        describe(&properties, objects.pipeline)
    }
}

/// The Vulkan objects of one statistics pipeline, destroyed on drop (null
/// handles are skipped by Vulkan's destroy calls).
struct Objects<'d> {
    device: &'d ash::Device,
    shader: vk::ShaderModule,
    set_layout: vk::DescriptorSetLayout,
    layout: vk::PipelineLayout,
    pipeline: vk::Pipeline,
}

impl<'d> Objects<'d> {
    fn default_for(device: &'d ash::Device) -> Objects<'d> {
        Objects {
            device,
            shader: vk::ShaderModule::null(),
            set_layout: vk::DescriptorSetLayout::null(),
            layout: vk::PipelineLayout::null(),
            pipeline: vk::Pipeline::null(),
        }
    }
}

impl Drop for Objects<'_> {
    fn drop(&mut self) {
        // SAFETY: each handle is null or was created on `device` and is no
        // longer used; destroying a null handle is a no-op.
        unsafe {
            self.device.destroy_pipeline(self.pipeline, None);
            self.device.destroy_pipeline_layout(self.layout, None);
            self.device.destroy_descriptor_set_layout(self.set_layout, None);
            self.device.destroy_shader_module(self.shader, None);
        }
    }
}

/// The statistics of each executable of `pipeline`, a line each.
///
/// # Safety
/// `pipeline` is a live pipeline created with statistics captured.
unsafe fn describe(
    properties: &ash::khr::pipeline_executable_properties::Device,
    pipeline: vk::Pipeline,
) -> Result<Vec<String>, String> {
    let info = vk::PipelineInfoKHR::default().pipeline(pipeline);
    // SAFETY: (both calls) `pipeline` is live and was created with statistics captured.
    let executables = unsafe { properties.get_pipeline_executable_properties(&info) }
        .map_err(|e| format!("vkGetPipelineExecutablePropertiesKHR: {e}"))?;
    let mut lines = Vec::new();
    for (index, executable) in executables.iter().enumerate() {
        let which = vk::PipelineExecutableInfoKHR::default().pipeline(pipeline).executable_index(index as u32);
        let stats = unsafe { properties.get_pipeline_executable_statistics(&which) }
            .map_err(|e| format!("vkGetPipelineExecutableStatisticsKHR: {e}"))?;
        let figures: Vec<String> =
            stats.iter().map(|s| format!("{} = {}", text(s.name_as_c_str()), value(s))).collect();
        lines.push(format!("{}: {}", text(executable.name_as_c_str()), figures.join("; ")));
    }
    Ok(lines)
}

/// A driver's fixed-size name as text.
fn text(name: Result<&CStr, FromBytesUntilNulError>) -> String {
    name.map(|c| c.to_string_lossy().into_owned()).unwrap_or_default()
}

fn value(statistic: &vk::PipelineExecutableStatisticKHR<'_>) -> String {
    // SAFETY: the union is read as the member its format names.
    unsafe {
        match statistic.format {
            vk::PipelineExecutableStatisticFormatKHR::BOOL32 => (statistic.value.b32 == vk::TRUE).to_string(),
            vk::PipelineExecutableStatisticFormatKHR::INT64 => statistic.value.i64.to_string(),
            vk::PipelineExecutableStatisticFormatKHR::UINT64 => statistic.value.u64.to_string(),
            vk::PipelineExecutableStatisticFormatKHR::FLOAT64 => statistic.value.f64.to_string(),
            other => format!("(format {})", other.as_raw()),
        }
    }
}
