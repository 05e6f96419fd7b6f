//! Device buffers: creating (counted), writing, clearing and reading back
//! 32-bit data; views of a range of another buffer's words, which kernels
//! bind in place.

use std::sync::atomic::{AtomicU64, Ordering};

use super::device::{Gpu, GpuError};

/// A storage buffer of 32-bit words (f32 or u32) on the device, or a view of
/// a range of one's words.
pub struct GpuBuffer {
    pub(super) buffer: wgpu::Buffer,
    len: usize,
    /// Unique per device: which buffer (or view) a cached bind group refers to.
    pub(super) id: u64,
    /// Where its words start in `buffer` (0 but for a view).
    base: u64,
    /// The id of the buffer whose words it holds (its own but for a view).
    root: u64,
}

/// Identities of views, apart from the allocations' counts that name buffers.
static VIEW_IDS: AtomicU64 = AtomicU64::new(1 << 62);

impl GpuBuffer {
    /// The number of 32-bit words.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer holds no word.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Another handle of the same buffer (same identity), for a workspace that
    /// uses a buffer another object owns.
    pub(super) fn share(&self) -> GpuBuffer {
        GpuBuffer { buffer: self.buffer.clone(), ..*self }
    }

    /// Words `base..base + len` of this buffer as a buffer of their own, a
    /// new identity: bound, copied or cleared, it is those words in place.
    /// `base` must be aligned as bindings' offsets are; the binding of the
    /// whole view is rounded up to whole quads, which the buffer must hold.
    pub(super) fn view(&self, base: u64, len: usize) -> GpuBuffer {
        let id = VIEW_IDS.fetch_add(1, Ordering::Relaxed);
        GpuBuffer { buffer: self.buffer.clone(), len, id, base: self.base + base, root: self.root }
    }

    /// Whether it is a view of another buffer's words.
    pub(super) fn is_view(&self) -> bool {
        self.id != self.root
    }

    /// Whether its word `at` is `other`'s word `other_at` (the same memory).
    pub(super) fn same_word(&self, at: u64, other: &GpuBuffer, other_at: u64) -> bool {
        self.root == other.root && self.base + at == other.base + other_at
    }

    /// The byte offset of its word `word` in `buffer` (for copy commands).
    pub(super) fn byte_offset(&self, word: u64) -> u64 {
        (self.base + word) * 4
    }

    /// The whole buffer as a binding.
    pub(super) fn whole(&self) -> wgpu::BufferBinding<'_> {
        if !self.is_view() {
            return wgpu::BufferBinding { buffer: &self.buffer, offset: 0, size: None };
        }
        self.range(0, self.len.max(1).next_multiple_of(4) as u64)
    }

    /// Words `offset..offset + len` as a binding (the offset aligned as the
    /// device requires, which the caller guarantees).
    pub(super) fn range(&self, offset: u64, len: u64) -> wgpu::BufferBinding<'_> {
        let size = std::num::NonZeroU64::new(len * 4);
        wgpu::BufferBinding { buffer: &self.buffer, offset: self.byte_offset(offset), size }
    }
}

/// What every storage buffer may be used for.
pub(super) const STORAGE_USAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_SRC).union(wgpu::BufferUsages::COPY_DST);

impl Gpu {
    /// A device buffer of `bytes` (counted in [`Gpu::allocations`]), checked
    /// against the device's limits first.
    pub(super) fn create(&self, label: &str, bytes: u64, usage: wgpu::BufferUsages) -> Result<wgpu::Buffer, GpuError> {
        let limit = if usage.contains(wgpu::BufferUsages::STORAGE) {
            self.max_binding_bytes()
        } else {
            self.limits.max_buffer_size
        };
        if bytes > limit {
            return Err(GpuError::Device(format!(
                "buffer `{label}` needs {bytes} bytes; the device allows at most {limit} bytes per buffer"
            )));
        }
        self.allocations.fetch_add(1, Ordering::Relaxed);
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(4),
            usage,
            mapped_at_creation: false,
        }))
    }

    /// A storage buffer of `len` words, with undefined contents until written.
    /// Whole 16-byte quads are allocated (at least one: bindings may not be
    /// empty), so that any buffer may also be bound as `array<vec4<f32>>` (the
    /// matrix products' 16-byte loads).
    pub fn storage(&self, label: &str, len: usize) -> Result<GpuBuffer, GpuError> {
        let buffer = self.create(label, (len.max(1).next_multiple_of(4) * 4) as u64, STORAGE_USAGE)?;
        let id = self.allocations();
        Ok(GpuBuffer { buffer, len, id, base: 0, root: id })
    }

    /// A storage buffer of `len` zero words that may be longer than one
    /// binding (up to the device's largest buffer): it is only ever bound by
    /// ranges of at most a binding each.
    pub(super) fn ranged_storage(&self, label: &str, len: usize) -> Result<GpuBuffer, GpuError> {
        let bytes = (len.max(1).next_multiple_of(4) * 4) as u64;
        self.check_buffer_bytes(label, bytes)?;
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes,
            usage: STORAGE_USAGE,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
        encoder.clear_buffer(&buffer, 0, None);
        self.queue.submit([encoder.finish()]);
        Ok(self.counted(buffer, len))
    }

    /// Whether a buffer of `bytes` may exist on the device (bound by ranges).
    pub(super) fn check_buffer_bytes(&self, label: &str, bytes: u64) -> Result<(), GpuError> {
        if bytes > self.limits.max_buffer_size {
            return Err(GpuError::Device(format!(
                "buffer `{label}` needs {bytes} bytes; the device allows at most {} bytes per buffer",
                self.limits.max_buffer_size
            )));
        }
        Ok(())
    }

    /// A buffer of `len` words made outside [`Gpu::create`] (imported or
    /// exported memory), counted and given its identity.
    pub(super) fn counted(&self, buffer: wgpu::Buffer, len: usize) -> GpuBuffer {
        let id = self.allocations.fetch_add(1, Ordering::Relaxed) + 1;
        GpuBuffer { buffer, len, id, base: 0, root: id }
    }

    /// A buffer holding `words`.
    pub fn upload<T: bytemuck::Pod>(&self, label: &str, words: &[T]) -> Result<GpuBuffer, GpuError> {
        let buffer = self.storage(label, words.len())?;
        self.write(&buffer, 0, words)?;
        Ok(buffer)
    }

    /// Writes `words` into `buffer` from word `offset` (staged by the queue; done
    /// before the next submission runs).
    pub fn write<T: bytemuck::Pod>(&self, buffer: &GpuBuffer, offset: usize, words: &[T]) -> Result<(), GpuError> {
        assert_eq!(std::mem::size_of::<T>(), 4, "buffers hold 32-bit words");
        if offset + words.len() > buffer.len.max(1) {
            return Err(GpuError::Device(format!(
                "writing words {offset}..{} of a buffer of {}",
                offset + words.len(),
                buffer.len
            )));
        }
        if !words.is_empty() {
            self.queue.write_buffer(&buffer.buffer, buffer.byte_offset(offset as u64), bytemuck::cast_slice(words));
        }
        Ok(())
    }

    /// A buffer of `len` zero words, cleared now (so that wgpu's lazy zeroing does
    /// not land inside a timed kernel).
    pub fn zeroed(&self, label: &str, len: usize) -> Result<GpuBuffer, GpuError> {
        let buffer = self.storage(label, len)?;
        let mut encoder = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
        encoder.clear_buffer(&buffer.buffer, 0, None);
        self.queue.submit([encoder.finish()]);
        Ok(buffer)
    }

    /// Copies the buffer back to the host, waiting for all submitted work first.
    pub fn read<T: bytemuck::Pod>(&self, source: &GpuBuffer) -> Result<Vec<T>, GpuError> {
        self.read_range(source, 0, source.len)
    }

    /// Copies words `offset..offset + len` of the buffer back to the host, waiting
    /// for all submitted work first (through a staging buffer made for the call:
    /// the solvers read through their workspace's resident one instead).
    pub fn read_range<T: bytemuck::Pod>(
        &self,
        source: &GpuBuffer,
        offset: usize,
        len: usize,
    ) -> Result<Vec<T>, GpuError> {
        if offset + len > source.len.max(1) {
            return Err(GpuError::Device(format!(
                "reading words {offset}..{} of a buffer of {}",
                offset + len,
                source.len
            )));
        }
        if len == 0 {
            return Ok(Vec::new());
        }
        let bytes = (len * 4) as u64;
        let staging = self.create("readback", bytes, wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST)?;
        let mut encoder =
            self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("readback") });
        encoder.copy_buffer_to_buffer(&source.buffer, source.byte_offset(offset as u64), &staging, 0, bytes);
        self.queue.submit([encoder.finish()]);
        self.map_read(&staging, bytes)
    }

    /// Maps `slice` for `mode` once the submitted work is done.
    pub(super) fn map(&self, slice: &wgpu::BufferSlice<'_>, mode: wgpu::MapMode) -> Result<(), GpuError> {
        self.map_after(slice, mode, None)
    }

    /// Maps `slice` once `submission` (`None`: all submitted work) is done.
    fn map_after(
        &self,
        slice: &wgpu::BufferSlice<'_>,
        mode: wgpu::MapMode,
        submission: Option<wgpu::SubmissionIndex>,
    ) -> Result<(), GpuError> {
        let (sender, receiver) = std::sync::mpsc::channel();
        slice.map_async(mode, move |result| {
            let _ = sender.send(result);
        });
        self.finish_through(submission)?;
        receiver.recv().map_err(|e| GpuError::Device(e.to_string()))?.map_err(|e| GpuError::Device(e.to_string()))
    }

    /// Maps the first `bytes` of a `MAP_READ` buffer once the submitted work is
    /// done, and copies them out as words.
    pub(super) fn map_read<T: bytemuck::Pod>(&self, staging: &wgpu::Buffer, bytes: u64) -> Result<Vec<T>, GpuError> {
        self.with_mapped(staging, bytes, |words: &[T]| words.to_vec())
    }

    /// Maps the first `bytes` of a `MAP_READ` buffer once the submitted work is
    /// done, and hands them to `read` as words (no copy of their own).
    pub(super) fn with_mapped<T: bytemuck::Pod, R>(
        &self,
        staging: &wgpu::Buffer,
        bytes: u64,
        read: impl FnOnce(&[T]) -> R,
    ) -> Result<R, GpuError> {
        self.read_mapped(staging, bytes, None, read)
    }

    /// [`Gpu::with_mapped`] once `submission` is done (later work may run on).
    pub(super) fn with_mapped_after<T: bytemuck::Pod, R>(
        &self,
        staging: &wgpu::Buffer,
        bytes: u64,
        submission: wgpu::SubmissionIndex,
        read: impl FnOnce(&[T]) -> R,
    ) -> Result<R, GpuError> {
        self.read_mapped(staging, bytes, Some(submission), read)
    }

    fn read_mapped<T: bytemuck::Pod, R>(
        &self,
        staging: &wgpu::Buffer,
        bytes: u64,
        submission: Option<wgpu::SubmissionIndex>,
        read: impl FnOnce(&[T]) -> R,
    ) -> Result<R, GpuError> {
        if bytes == 0 {
            return Ok(read(&[]));
        }
        let slice = staging.slice(..bytes);
        self.map_after(&slice, wgpu::MapMode::Read, submission)?;
        let data = slice.get_mapped_range().map_err(|e| GpuError::Device(e.to_string()))?;
        // Mapped ranges are aligned far beyond 4 bytes; copy only if one is not.
        let result = match bytemuck::try_cast_slice(&data) {
            Ok(words) => read(words),
            Err(_) => read(&bytemuck::pod_collect_to_vec::<u8, T>(&data)),
        };
        drop(data);
        staging.unmap();
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use crate::gpu::{Binding, Gpu};

    #[test]
    fn a_kernel_runs_on_the_default_adapter() {
        let gpu = match Gpu::open(None) {
            Ok(gpu) => gpu,
            Err(e) => panic!("tests need a GPU adapter (lavapipe in CI): {e}"),
        };
        let source = "@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x < arrayLength(&y) { y[id.x] = 2.0 * x[id.x] + 1.0; }
}";
        let kernel = gpu.kernel("double", source, "main").expect("compiles");
        let x: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let input = gpu.upload("x", &x).expect("upload");
        let output = gpu.zeroed("y", x.len()).expect("alloc");
        gpu.dispatch(&kernel, &[Binding(&input), Binding(&output)], [16, 1, 1]).expect("dispatch");
        let y: Vec<f32> = gpu.read(&output).expect("read");
        assert!(y.iter().zip(&x).all(|(y, x)| *y == 2.0 * x + 1.0));
        let bad = gpu.kernel("bad", "fn main( {", "main");
        assert!(bad.is_err());
    }
}
