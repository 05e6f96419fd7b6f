//! Compiled kernels and their dispatch.

use super::device::{Gpu, GpuError};
use super::memory::GpuBuffer;

/// A compute pipeline for one WGSL entry point. Its bindings are all in group 0,
/// numbered from 0 in the order the kernel declares them.
pub struct Kernel {
    label: String,
    pipeline: wgpu::ComputePipeline,
}

/// A buffer bound to a kernel's binding slot (slots are numbered by position).
pub struct Binding<'a>(pub &'a GpuBuffer);

impl Kernel {
    pub(super) fn compile(gpu: &Gpu, label: &str, source: &str, entry: &str) -> Result<Kernel, GpuError> {
        let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipeline = gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(label),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        if let Some(error) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Kernel { label: label.to_owned(), reason: error.to_string() });
        }
        Ok(Kernel { label: label.to_owned(), pipeline })
    }

    /// The kernel's label.
    pub fn label(&self) -> &str {
        &self.label
    }
}

impl Gpu {
    /// Records `kernel` over `workgroups` (x, y, z) with `bindings`, submits it, and
    /// returns without waiting.
    pub fn dispatch(&self, kernel: &Kernel, bindings: &[Binding<'_>], workgroups: [u32; 3]) -> Result<(), GpuError> {
        let max = self.max_workgroups_per_dimension();
        if workgroups.iter().any(|&n| n > max) {
            return Err(GpuError::Device(format!(
                "kernel `{}` needs {workgroups:?} workgroups; the device allows {max} per dimension",
                kernel.label
            )));
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let layout = kernel.pipeline.get_bind_group_layout(0);
        let entries: Vec<wgpu::BindGroupEntry<'_>> = bindings
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.0.buffer.as_entire_binding() })
            .collect();
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&kernel.label),
            layout: &layout,
            entries: &entries,
        });
        let mut encoder =
            self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(&kernel.label) });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(&kernel.label),
                timestamp_writes: None,
            });
            pass.set_pipeline(&kernel.pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
        }
        self.queue.submit([encoder.finish()]);
        if let Some(error) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Kernel { label: kernel.label.clone(), reason: error.to_string() });
        }
        Ok(())
    }
}
