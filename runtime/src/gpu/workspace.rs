//! The resident memory of one compiled cell on one device: every buffer its
//! forward and backward passes use, created on first use and reused by every
//! later call (grown only when a call needs more), with the bind groups over
//! them cached and the parameters uploaded again only when they change. A
//! training loop of same-shaped calls allocates nothing after its first step
//! (`Gpu::allocations` counts it).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use super::copy::WordCopy;
use super::device::{Gpu, GpuError};
use super::kernel::Kernel;
use super::memory::GpuBuffer;
use super::timing::Timer;

/// Uploads of at most this many bytes in all are written through the queue.
const QUEUE_WRITE_BYTES: u64 = 1 << 20;

/// A buffer of the workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Slot {
    /// Every parameter, at the plan's offsets.
    Params,
    /// The stacked matrices of dense projection launch `i`.
    Weights(usize),
    /// The matrices of projection launch `i`, transposed for its product.
    ProjectionWeights(usize),
    /// Every input of the pass.
    Inputs,
    /// The initial states (the recurrence leaves its last states there).
    Init,
    /// The projections, `[rows, plan.cell.projection_columns]`.
    Projections,
    /// Every output of the pass.
    Outputs,
    /// Every state after every step (kept for a backward pass).
    States,
    /// One `Stats` record per workgroup of the recurrence.
    Stats,
    /// One `Settings` record per window of the forward recurrence.
    Settings,
    /// One `Settings` record per window of the backward recurrence.
    BackwardSettings,
    /// One `ProjectionSizes` or `GemmSizes` record per launch of the forward.
    LaunchSizes,
    /// One `GemmSizes` record per product of the backward.
    GradientSizes,
    /// The outputs' cotangents.
    Douts,
    /// What the backward kernels write (`GradientLayout`).
    Grads,
    /// The gradient of input `i` through the projections (`dx = dP W`).
    InputGrads(usize),
    /// The matrices' gradient of projection launch `i` (`dW`).
    WeightGrads(usize),
    /// The exchange of the call in progress (`exchange.rs`): its tensors are
    /// copied from it and its results to it.
    Exchange,
    /// The plan's staged operands, `[rows, plan.cell.stages.columns]`.
    Staged,
    /// Their cotangents (`dv = dP W`), laid out like `Staged`.
    StagedGrads,
    /// The vector parameters' per-step shares from the stages.
    StagePartials,
    /// Their sums over the steps.
    StagePartialSums,
}

/// A binding of a kernel: a whole buffer, or a range of words of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Bound {
    pub slot: Slot,
    /// `(offset, len)` in words, or the whole buffer.
    pub range: Option<(u64, u64)>,
}

impl Bound {
    pub(super) fn whole(slot: Slot) -> Bound {
        Bound { slot, range: None }
    }

    pub(super) fn range(slot: Slot, offset: u64, len: u64) -> Bound {
        Bound { slot, range: Some((offset, len)) }
    }
}

/// A cached bind group's identity: the kernel (its address) and each binding's
/// buffer (its id) and range.
type BindKey = (usize, Vec<(u64, Option<(u64, u64)>)>);

/// The buffers of a forward pass that a backward pass reads: what a tape holds
/// between them.
pub(super) const PASS_SLOTS: [Slot; 6] =
    [Slot::Inputs, Slot::Init, Slot::Projections, Slot::Outputs, Slot::States, Slot::Staged];

/// The resident buffers of one compiled cell.
#[derive(Default)]
pub(super) struct Workspace {
    buffers: HashMap<Slot, GpuBuffer>,
    /// The staging buffer results are read back through, and its size in bytes.
    readback: Option<(wgpu::Buffer, u64)>,
    /// The staging buffer each call's host data is written through, and its size.
    upload: Option<(wgpu::Buffer, u64)>,
    bind_groups: HashMap<BindKey, wgpu::BindGroup>,
    /// The fingerprint of the parameters in `Params` and `Weights`.
    pub(super) params_fingerprint: Option<u64>,
    /// The batch and steps of the inputs last uploaded whole into `Inputs` (one
    /// pass), which a call on the device may reuse.
    pub(super) resident_inputs: Option<(usize, usize)>,
    /// The same for the outputs' cotangents last uploaded whole into `Douts`.
    pub(super) resident_douts: Option<(usize, usize)>,
    timer: Option<Option<Timer>>,
    /// Recorded commands that the pass's submission submits first (the
    /// parameters' copies from an exchange: one submission a call).
    deferred: Vec<wgpu::CommandEncoder>,
}

impl Workspace {
    /// Whether the inputs and the outputs' cotangents of a `shape` (batch,
    /// steps) pass are both in place from the last call.
    pub(super) fn holds_pass_data(&self, shape: (usize, usize)) -> bool {
        self.resident_inputs == Some(shape) && self.resident_douts == Some(shape)
    }

    /// Keeps `encoder`'s commands for the next pass's submission, before its own.
    pub(super) fn defer(&mut self, encoder: wgpu::CommandEncoder) {
        self.deferred.push(encoder);
    }

    /// The commands kept by [`Workspace::defer`], for the pass's submission.
    pub(super) fn take_deferred(&mut self) -> Vec<wgpu::CommandEncoder> {
        std::mem::take(&mut self.deferred)
    }

    /// Makes `slot` hold at least `len` words, allocating only when it does not.
    pub(super) fn ensure(&mut self, gpu: &Gpu, slot: Slot, len: usize) -> Result<(), GpuError> {
        if self.buffers.get(&slot).is_some_and(|b| b.len() >= len) {
            return Ok(());
        }
        // A replaced buffer must not stay alive inside cached bind groups.
        self.bind_groups.clear();
        self.buffers.remove(&slot);
        let buffer = gpu.storage(&format!("{slot:?}"), len)?;
        self.buffers.insert(slot, buffer);
        if matches!(slot, Slot::Params | Slot::Weights(_)) {
            self.params_fingerprint = None;
        }
        match slot {
            Slot::Inputs => self.resident_inputs = None,
            Slot::Douts => self.resident_douts = None,
            _ => {}
        }
        Ok(())
    }

    /// The buffer of `slot` (made by [`Workspace::ensure`]).
    pub(super) fn get(&self, slot: Slot) -> Result<&GpuBuffer, GpuError> {
        self.buffers.get(&slot).ok_or_else(|| GpuError::Device(format!("internal: no {slot:?} buffer")))
    }

    /// Takes the buffer of `slot` out (a tape keeps it between a forward and a
    /// backward pass).
    pub(super) fn take(&mut self, slot: Slot) -> Option<GpuBuffer> {
        if slot == Slot::Inputs {
            self.resident_inputs = None;
        }
        self.buffers.remove(&slot)
    }

    /// Gives a taken buffer back.
    pub(super) fn put(&mut self, slot: Slot, buffer: GpuBuffer) {
        self.buffers.insert(slot, buffer);
    }

    /// Makes `buffer` (another owner's) the workspace's `slot` for the call in
    /// progress; the bind groups of a different buffer there are dropped.
    pub(super) fn attach(&mut self, slot: Slot, buffer: GpuBuffer) {
        if self.buffers.get(&slot).is_some_and(|held| held.id != buffer.id) {
            self.bind_groups.clear();
        }
        self.buffers.insert(slot, buffer);
    }

    /// Drops every slot that is a view of another buffer's words (an
    /// exchange's tensors bound in place for one call), so that no later call
    /// writes through it.
    pub(super) fn detach_views(&mut self) {
        let views: Vec<Slot> = self.buffers.iter().filter(|(_, b)| b.is_view()).map(|(&slot, _)| slot).collect();
        for slot in views {
            self.take(slot);
        }
    }

    /// The bind group of `kernel` over `bindings`, made once.
    pub(super) fn bind_group(
        &mut self,
        gpu: &Gpu,
        kernel: &Arc<Kernel>,
        bindings: &[Bound],
    ) -> Result<wgpu::BindGroup, GpuError> {
        let mut key_parts = Vec::with_capacity(bindings.len());
        for bound in bindings {
            key_parts.push((self.get(bound.slot)?.id, bound.range));
        }
        let key = (Arc::as_ptr(kernel) as usize, key_parts);
        if let Some(group) = self.bind_groups.get(&key) {
            return Ok(group.clone());
        }
        let mut entries = Vec::with_capacity(bindings.len());
        for bound in bindings {
            let buffer = self.get(bound.slot)?;
            entries.push(match bound.range {
                Some((offset, len)) => buffer.range(offset, len),
                None => buffer.whole(),
            });
        }
        let group = kernel.bind_group(gpu, &entries)?;
        self.bind_groups.insert(key, group.clone());
        Ok(group)
    }

    /// The staging buffer for reading back `bytes`, grown when needed.
    pub(super) fn readback(&mut self, gpu: &Gpu, bytes: u64) -> Result<wgpu::Buffer, GpuError> {
        if let Some((buffer, size)) = &self.readback
            && *size >= bytes
        {
            return Ok(buffer.clone());
        }
        let size = bytes.max(4);
        let buffer = gpu.create("readback", size, wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST)?;
        self.readback = Some((buffer.clone(), size));
        Ok(buffer)
    }

    /// Writes `uploads`' host data into the resident upload buffer and records
    /// their copies into their buffers at the start of `encoder` (so a call's
    /// host data costs one copy on the host and allocates nothing); the copies
    /// from the exchange are the caller's (`Uploads::exchange_copies`).
    pub(super) fn stage(
        &mut self,
        gpu: &Gpu,
        uploads: &Uploads<'_>,
        encoder: &mut wgpu::CommandEncoder,
    ) -> Result<(), GpuError> {
        let total: u64 = uploads.writes.iter().map(|(_, _, words)| words.len() as u64 * 4).sum();
        if total == 0 {
            return Ok(());
        }
        // Records and small data go through the queue's own staging (no wait
        // for the upload buffer to be mappable); large data through the
        // resident upload buffer (no second copy on the host).
        if total <= QUEUE_WRITE_BYTES {
            for (slot, offset, words) in &uploads.writes {
                gpu.write(self.get(*slot)?, *offset as usize, words)?;
            }
            return Ok(());
        }
        if self.upload.as_ref().is_none_or(|(_, size)| *size < total) {
            let buffer = gpu.create("upload", total, wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC)?;
            self.upload = Some((buffer, total));
        }
        let Some((upload, _)) = &self.upload else { return Ok(()) };
        let slice = upload.slice(..total);
        gpu.map(&slice, wgpu::MapMode::Write)?;
        {
            let mut mapped = slice.get_mapped_range_mut().map_err(|e| GpuError::Device(e.to_string()))?;
            let mut at = 0usize;
            for (_, _, words) in &uploads.writes {
                let bytes: &[u8] = bytemuck::cast_slice(words);
                mapped.slice(at..at + bytes.len()).copy_from_slice(bytes);
                at += bytes.len();
            }
        }
        upload.unmap();
        let mut at = 0u64;
        for (slot, offset, words) in &uploads.writes {
            let bytes = words.len() as u64 * 4;
            let target = self.get(*slot)?;
            if offset + words.len() as u64 > target.len() as u64 {
                return Err(GpuError::Device(format!("internal: an upload overruns the {slot:?} buffer")));
            }
            encoder.copy_buffer_to_buffer(upload, at, &target.buffer, target.byte_offset(*offset), bytes);
            at += bytes;
        }
        Ok(())
    }

    /// Makes the phase timer on first use (none where the device has no
    /// timestamp queries).
    pub(super) fn ensure_timer(&mut self, gpu: &Gpu) -> Result<(), GpuError> {
        if self.timer.is_none() {
            self.timer = Some(Timer::new(gpu)?);
        }
        Ok(())
    }

    /// The phase timer, if [`Workspace::ensure_timer`] made one.
    pub(super) fn timer(&self) -> Option<&Timer> {
        self.timer.as_ref().and_then(Option::as_ref)
    }
}

/// The data of one submission, gathered before it is recorded: each a run of
/// words from the host, or copied from the [`Slot::Exchange`], for a buffer of
/// the workspace at a word offset.
#[derive(Default)]
pub(super) struct Uploads<'a> {
    writes: Vec<(Slot, u64, Cow<'a, [u32]>)>,
    /// Copies from the exchange.
    copies: Vec<WordCopy>,
}

impl<'a> Uploads<'a> {
    /// Floats from the caller's data (not copied until staged).
    pub(super) fn data(&mut self, slot: Slot, offset: u64, values: &'a [f32]) {
        if !values.is_empty() {
            self.writes.push((slot, offset, Cow::Borrowed(bytemuck::cast_slice(values))));
        }
    }

    /// Words `from..from + len` of the exchange, copied on the device (by
    /// [`super::copy::Copies`], from [`Uploads::exchange_copies`]).
    pub(super) fn copy_from_exchange(&mut self, slot: Slot, offset: u64, from: u64, len: u64) {
        if len > 0 {
            self.copies.push(WordCopy { src: Slot::Exchange, from, dst: slot, to: offset, len });
        }
    }

    /// The copies from the exchange.
    pub(super) fn exchange_copies(&self) -> impl Iterator<Item = WordCopy> + '_ {
        self.copies.iter().copied()
    }

    /// Interface records (settings, sizes) made for this call.
    pub(super) fn records(&mut self, slot: Slot, offset: u64, words: Vec<u32>) {
        if !words.is_empty() {
            self.writes.push((slot, offset, Cow::Owned(words)));
        }
    }
}

/// Words between two records of `words` words bound one at a time: a multiple
/// of the device's binding alignment.
pub(super) fn record_stride(gpu: &Gpu, words: usize) -> u64 {
    let align = (gpu.binding_alignment() / 4).max(1);
    (words as u64).div_ceil(align) * align
}

/// A fingerprint of 32-bit words (FNV-style over 64-bit chunks, with a final
/// mix): parameters are uploaded again only when theirs changes. Four
/// independent streams over each 32-byte block, combined at the end of each
/// part, so that the multiplications overlap (one stream's chain of
/// multiplications took 2.1 ms of a 3.96 ms resident forward of 6 MB of
/// parameters on the H200's host: docs/measurements/h200-run42).
pub(super) fn fingerprint<'a>(parts: impl IntoIterator<Item = &'a [f32]>) -> u64 {
    const PRIME: u64 = 0x0100_0000_01b3;
    let word = |pair: &[f32]| u64::from(pair[0].to_bits()) | (pair.get(1).map_or(0, |v| u64::from(v.to_bits())) << 32);
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        let mut streams = [hash, hash ^ 1, hash ^ 2, hash ^ 3];
        let blocks = part.chunks_exact(8);
        let tail = blocks.remainder();
        for block in blocks {
            for (stream, pair) in streams.iter_mut().zip(block.chunks_exact(2)) {
                *stream = (*stream ^ word(pair)).wrapping_mul(PRIME).rotate_left(23);
            }
        }
        for pair in tail.chunks(2) {
            streams[0] = (streams[0] ^ word(pair)).wrapping_mul(PRIME).rotate_left(23);
        }
        for stream in streams {
            hash = (hash ^ stream).wrapping_mul(PRIME).rotate_left(23);
        }
        hash = (hash ^ part.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    hash ^ (hash >> 29)
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    /// Any one word changed, anywhere in a part (its 32-byte blocks or its
    /// tail), or the same words cut into other parts, changes the fingerprint;
    /// the same words give the same one.
    #[test]
    fn fingerprints_see_every_word_and_every_cut() {
        let data: Vec<f32> = (0..1003).map(|i| (i as f32 * 0.37).sin()).collect();
        let whole = fingerprint([&data[..]]);
        assert_eq!(whole, fingerprint([&data.clone()[..]]));
        let mut seen = std::collections::HashSet::from([whole]);
        for at in [0, 1, 7, 8, 500, 999, 1000, 1002] {
            let mut changed = data.clone();
            changed[at] = f32::from_bits(changed[at].to_bits() ^ 1);
            assert!(seen.insert(fingerprint([&changed[..]])), "a change of word {at} is seen");
        }
        assert_ne!(whole, fingerprint([&data[..500], &data[500..]]));
        assert_ne!(fingerprint([&data[..500], &data[500..]]), fingerprint([&data[..501], &data[501..]]));
        // Swapped words of one block land in other streams.
        let mut swapped = data.clone();
        swapped.swap(0, 2);
        assert_ne!(whole, fingerprint([&swapped[..]]));
    }
}
