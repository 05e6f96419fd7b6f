//! Copies of words between two of a workspace's buffers on the device: the
//! exchange's tensors into the kernels' buffers and their results back
//! ([`super::exchange`]). A copy whose two ranges start at the device's
//! binding alignment and are whole quads runs as the quad copy kernel
//! (`wgsl::copy_text`), in parts no larger than one binding; any other by the
//! copy command; a copy onto the very words it reads (a slot that is a view
//! of the exchange: `Exchange::bind_in_place`) is dropped.
//! `RNNC_EXCHANGE_COPY=command` sends every copy to the copy command (a
//! measurement knob). H200, docs/measurements/h200-run71 (the
//! PyTorch layer's device path, ParaGRU, B = 8, N = 1024): forward + backward
//! 8.92 -> 8.39 ms at T = 2048 (four copies of 67 MB), 25.71 -> 23.79 at
//! T = 8192.

use std::sync::Arc;

use rnnc_compiler::backend::wgsl::{COPY_THREADS, copy_text, grid_in_rows};

use super::device::{Gpu, GpuError};
use super::kernel::{Dispatch, Kernel, Recorder};
use super::workspace::{Bound, Slot, Workspace};

/// Words `from..from + len` of `src` to words `to..to + len` of `dst`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct WordCopy {
    pub src: Slot,
    pub from: u64,
    pub dst: Slot,
    pub to: u64,
    pub len: u64,
}

/// Copies planned for one submission: the quad copy's dispatches (their bind
/// groups made, and cached, while the workspace is borrowed mutably) and the
/// copies left to the copy command.
pub(super) struct Copies {
    /// The copy kernel, fetched only when some copy takes it (a host-path
    /// pass, with no copies, compiles nothing).
    kernel: Option<Arc<Kernel>>,
    dispatches: Vec<(wgpu::BindGroup, [u32; 3])>,
    commands: Vec<WordCopy>,
}

/// Whether copies may run as the kernel (`RNNC_EXCHANGE_COPY` is not `command`).
fn by_kernel() -> bool {
    std::env::var("RNNC_EXCHANGE_COPY").map_or(true, |v| v.trim() != "command")
}

impl Copies {
    /// Plans `copies` over `workspace`'s buffers, each checked against their lengths.
    pub(super) fn plan(
        gpu: &Gpu,
        workspace: &mut Workspace,
        copies: impl IntoIterator<Item = WordCopy>,
    ) -> Result<Copies, GpuError> {
        let part = gpu.max_binding_bytes() / 4;
        Copies::plan_in_parts(gpu, workspace, copies, if by_kernel() { part } else { 0 })
    }

    /// [`Copies::plan`], the kernel's copies in parts of at most `part` words
    /// (rounded down to the binding alignment; 0: every copy by the command).
    fn plan_in_parts(
        gpu: &Gpu,
        workspace: &mut Workspace,
        copies: impl IntoIterator<Item = WordCopy>,
        part: u64,
    ) -> Result<Copies, GpuError> {
        let align = (gpu.binding_alignment() / 4).max(4);
        let part = part / align * align;
        // Each copy checked, then to the command, or to the kernel in parts.
        let (mut parts, mut commands) = (Vec::new(), Vec::new());
        for copy in copies.into_iter().filter(|c| c.len > 0) {
            let (src, dst) = (workspace.get(copy.src)?, workspace.get(copy.dst)?);
            if copy.from + copy.len > src.len() as u64 || copy.to + copy.len > dst.len() as u64 {
                return Err(GpuError::Device(format!(
                    "internal: a copy overruns the {:?} or the {:?} buffer",
                    copy.src, copy.dst
                )));
            }
            // A view of the source's words (an exchange's tensors bound in
            // place) holds them already.
            if src.same_word(copy.from, dst, copy.to) {
                continue;
            }
            let aligned = copy.from % align == 0 && copy.to % align == 0 && copy.len % 4 == 0;
            if part == 0 || !aligned {
                commands.push(copy);
                continue;
            }
            for start in (0..copy.len).step_by(part as usize) {
                let len = part.min(copy.len - start);
                parts.push(WordCopy { from: copy.from + start, to: copy.to + start, len, ..copy });
            }
        }
        // The kernel, and its bind groups, only where some part takes it.
        let kernel = if parts.is_empty() { None } else { Some(gpu.kernel("copy", copy_text(), "main")?) };
        let mut dispatches = Vec::with_capacity(parts.len());
        if let Some(kernel) = &kernel {
            for part in &parts {
                let bound = [Bound::range(part.src, part.from, part.len), Bound::range(part.dst, part.to, part.len)];
                let group = workspace.bind_group(gpu, kernel, &bound)?;
                dispatches.push((group, grid_in_rows(part.len / 4, COPY_THREADS, gpu.max_workgroups_per_dimension())));
            }
        }
        Ok(Copies { kernel, dispatches, commands })
    }

    /// Records the copies into `recorder` (the kernel's as one phase).
    pub(super) fn record(&self, recorder: &mut Recorder<'_>, workspace: &Workspace) -> Result<(), GpuError> {
        for copy in &self.commands {
            let (src, dst) = (workspace.get(copy.src)?, workspace.get(copy.dst)?);
            let (from, to) = (src.byte_offset(copy.from), dst.byte_offset(copy.to));
            recorder.encoder.copy_buffer_to_buffer(&src.buffer, from, &dst.buffer, to, copy.len * 4);
        }
        let Some(kernel) = &self.kernel else { return Ok(()) };
        let dispatches: Vec<Dispatch> = self
            .dispatches
            .iter()
            .map(|(bind_group, grid)| Dispatch {
                kernel: Arc::clone(kernel),
                bind_group: bind_group.clone(),
                grid: *grid,
            })
            .collect();
        recorder.phase("copies", None, &dispatches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Copies whose ranges start at the binding alignment and are whole quads
    /// run as the kernel (in parts, where longer than one part), the others
    /// by the copy command; both copy exactly, and an overrun is refused.
    #[test]
    fn aligned_copies_take_the_kernel_and_every_copy_is_exact() {
        let gpu = Gpu::open(None).unwrap_or_else(|e| panic!("tests need a GPU adapter (lavapipe in CI): {e}"));
        let mut workspace = Workspace::default();
        let n = 8192usize;
        workspace.ensure(&gpu, Slot::Inputs, n).expect("allocates");
        workspace.ensure(&gpu, Slot::Outputs, n).expect("allocates");
        let data: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 + 1.0).collect();
        gpu.write(workspace.get(Slot::Inputs).expect("made"), 0, &data).expect("writes");
        gpu.write(workspace.get(Slot::Outputs).expect("made"), 0, &vec![0.0f32; n]).expect("writes");
        let align = (gpu.binding_alignment() / 4).max(4);
        let aligned = WordCopy { src: Slot::Inputs, from: align, dst: Slot::Outputs, to: 2 * align, len: 1000 };
        let unaligned = WordCopy { src: Slot::Inputs, from: 3, dst: Slot::Outputs, to: 4001, len: 7 };
        let copies = Copies::plan_in_parts(&gpu, &mut workspace, [aligned, unaligned], 4 * align).expect("plans");
        assert_eq!(copies.dispatches.len(), 1000usize.div_ceil(4 * align as usize), "in parts of {}", 4 * align);
        assert_eq!(copies.commands, vec![unaligned]);
        let mut recorder = Recorder::new(&gpu, "copies");
        copies.record(&mut recorder, &workspace).expect("records");
        recorder.submit().expect("submits");
        let copied: Vec<f32> = gpu.read(workspace.get(Slot::Outputs).expect("made")).expect("reads");
        let mut want = vec![0.0f32; n];
        for c in [aligned, unaligned] {
            want[c.to as usize..(c.to + c.len) as usize]
                .copy_from_slice(&data[c.from as usize..(c.from + c.len) as usize]);
        }
        assert_eq!(copied, want);
        let every = Copies::plan_in_parts(&gpu, &mut workspace, [aligned], 0).expect("plans");
        assert_eq!((every.dispatches.len(), every.commands.len()), (0, 1), "part 0: the copy command");
        assert!(every.kernel.is_none() && Copies::plan(&gpu, &mut workspace, []).expect("plans").kernel.is_none());
        let overrun = WordCopy { len: n as u64, ..aligned };
        assert!(Copies::plan(&gpu, &mut workspace, [overrun]).is_err());
    }

    /// A slot that is a view of another's words: a copy onto the very words it
    /// reads is dropped, and copies from elsewhere, by the kernel or by the
    /// command, land at the view's offset.
    #[test]
    fn copies_onto_the_same_words_of_a_view_are_dropped() {
        let gpu = Gpu::open(None).unwrap_or_else(|e| panic!("tests need a GPU adapter (lavapipe in CI): {e}"));
        let mut workspace = Workspace::default();
        let (n, align) = (4096u64, (gpu.binding_alignment() / 4).max(4));
        let data: Vec<f32> = (0..n).map(|i| i as f32 + 0.25).collect();
        let other: Vec<f32> = (0..n).map(|i| -(i as f32)).collect();
        workspace.ensure(&gpu, Slot::Exchange, n as usize).expect("allocates");
        workspace.ensure(&gpu, Slot::Params, n as usize).expect("allocates");
        gpu.write(workspace.get(Slot::Exchange).expect("made"), 0, &data).expect("writes");
        gpu.write(workspace.get(Slot::Params).expect("made"), 0, &other).expect("writes");
        let view = workspace.get(Slot::Exchange).expect("made").view(2 * align, 1024);
        assert!(view.is_view());
        workspace.attach(Slot::Inputs, view);
        let same = WordCopy { src: Slot::Exchange, from: 2 * align + 8, dst: Slot::Inputs, to: 8, len: 100 };
        let into = WordCopy { src: Slot::Params, from: 0, dst: Slot::Inputs, to: align, len: 64 };
        let command = WordCopy { src: Slot::Params, from: 1, dst: Slot::Inputs, to: 3, len: 5 };
        let copies = Copies::plan_in_parts(&gpu, &mut workspace, [same, into, command], 4 * align).expect("plans");
        let parts = into.len.div_ceil(4 * align) as usize;
        assert_eq!((copies.dispatches.len(), &copies.commands), (parts, &vec![command]), "the same words dropped");
        let mut recorder = Recorder::new(&gpu, "copies");
        copies.record(&mut recorder, &workspace).expect("records");
        recorder.submit().expect("submits");
        let got: Vec<f32> = gpu.read(workspace.get(Slot::Exchange).expect("made")).expect("reads");
        let mut want = data.clone();
        for c in [into, command] {
            let to = (2 * align + c.to) as usize;
            want[to..to + c.len as usize].copy_from_slice(&other[c.from as usize..(c.from + c.len) as usize]);
        }
        assert_eq!(got, want);
        let read: Vec<f32> = gpu.read_range(workspace.get(Slot::Inputs).expect("attached"), 8, 4).expect("reads");
        assert_eq!(read, want[(2 * align + 8) as usize..(2 * align + 12) as usize]);
        workspace.detach_views();
        assert!(workspace.get(Slot::Inputs).is_err() && workspace.get(Slot::Exchange).is_ok());
    }
}
