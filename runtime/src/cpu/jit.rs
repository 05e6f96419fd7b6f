//! JIT compilation of a cell's CLIF kernels with cranelift-jit, and the one
//! unsafe door into them: [`Kernel::call`].

use std::sync::Mutex;
use std::time::{Duration, Instant};

use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module, default_libcall_names};
use rnnc_compiler::Derived;
use rnnc_compiler::backend::clif::{self, CpuLayout, KernelKind, abi::Field};
use rnnc_compiler::check::DimSizes;

use super::error::CpuError;

/// The argument record of every kernel (see `rnnc_compiler::backend::clif::abi`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct KernelArgs {
    pub params: *const f32,
    pub consts: *const f32,
    pub pre: *const f32,
    pub prev_first: *const f32,
    pub prev_base: *const f32,
    pub prev_stride: i64,
    pub out: *mut f32,
    pub jac: *mut f32,
    pub rows: i64,
    pub scratch: *mut f32,
    pub channel_start: i64,
    pub channel_end: i64,
    pub inputs: *const *const f32,
    pub seed_last: *const f32,
    pub douts: *const *const f32,
    pub projections: *const f32,
    pub projection_grads: *mut f32,
    pub input_grads: *const *mut f32,
    pub param_grads: *mut f32,
}

impl KernelArgs {
    /// Every pointer null and every count 0: the fields a kernel does not read.
    pub const EMPTY: KernelArgs = KernelArgs {
        params: std::ptr::null(),
        consts: std::ptr::null(),
        pre: std::ptr::null(),
        prev_first: std::ptr::null(),
        prev_base: std::ptr::null(),
        prev_stride: 0,
        out: std::ptr::null_mut(),
        jac: std::ptr::null_mut(),
        rows: 0,
        scratch: std::ptr::null_mut(),
        channel_start: 0,
        channel_end: 0,
        inputs: std::ptr::null(),
        seed_last: std::ptr::null(),
        douts: std::ptr::null(),
        projections: std::ptr::null(),
        projection_grads: std::ptr::null_mut(),
        input_grads: std::ptr::null(),
        param_grads: std::ptr::null_mut(),
    };
}

/// The byte offset of each field of [`KernelArgs`], in [`Field::ALL`] order.
pub(crate) const ARGS_OFFSETS: [usize; 19] = [
    std::mem::offset_of!(KernelArgs, params),
    std::mem::offset_of!(KernelArgs, consts),
    std::mem::offset_of!(KernelArgs, pre),
    std::mem::offset_of!(KernelArgs, prev_first),
    std::mem::offset_of!(KernelArgs, prev_base),
    std::mem::offset_of!(KernelArgs, prev_stride),
    std::mem::offset_of!(KernelArgs, out),
    std::mem::offset_of!(KernelArgs, jac),
    std::mem::offset_of!(KernelArgs, rows),
    std::mem::offset_of!(KernelArgs, scratch),
    std::mem::offset_of!(KernelArgs, channel_start),
    std::mem::offset_of!(KernelArgs, channel_end),
    std::mem::offset_of!(KernelArgs, inputs),
    std::mem::offset_of!(KernelArgs, seed_last),
    std::mem::offset_of!(KernelArgs, douts),
    std::mem::offset_of!(KernelArgs, projections),
    std::mem::offset_of!(KernelArgs, projection_grads),
    std::mem::offset_of!(KernelArgs, input_grads),
    std::mem::offset_of!(KernelArgs, param_grads),
];

const _: () = {
    let mut i = 0;
    while i < Field::ALL.len() {
        assert!(ARGS_OFFSETS[i] == Field::ALL[i].offset() as usize);
        i += 1;
    }
    assert!(std::mem::size_of::<KernelArgs>() == clif::abi::ARGS_SIZE);
};

/// A compiled kernel's entry point.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Kernel(unsafe extern "C" fn(*const KernelArgs));

impl Kernel {
    /// Runs the kernel.
    ///
    /// # Safety
    /// Every pointer of `args` must be valid for what the kernel reads and writes
    /// over `args.rows` rows, as the cell's `CpuLayout` lays out: `params` and
    /// `consts` whole, `pre` `rows` rows, `prev_first` one state row, `prev_base`
    /// `rows - 1` rows at `prev_stride`, `out` and `jac` `rows` rows, `scratch`
    /// `scratch_len` floats, `inputs` one pointer per input to `rows` rows; for
    /// the backward kernel also `seed_last` one state row, `douts`,
    /// `input_grads` one pointer per output or input to `rows` rows,
    /// `projections` and `projection_grads` `rows` rows, `param_grads`
    /// `params_len` floats, and `out` must not alias what it reads. For a
    /// channel-split kernel the channel range must be a valid range of channels
    /// (see `ChannelSplit`), and no other thread may touch the floats it writes.
    pub unsafe fn call(self, args: &KernelArgs) {
        // SAFETY: the caller upholds the contract above; the function was
        // generated with the ISA's default call convention, which is `extern "C"`.
        unsafe { (self.0)(args) }
    }
}

/// The machine code of a cell's kernels, kept alive as long as the kernels.
pub(crate) struct Jit {
    module: Mutex<Option<JITModule>>,
    pub hoist: Option<Kernel>,
    pub states: Kernel,
    pub linearize: Option<Kernel>,
    pub outputs: Option<Kernel>,
    pub backward: Option<Kernel>,
    pub layout: CpuLayout,
    pub target: String,
    pub compile_time: Duration,
}

impl Drop for Jit {
    fn drop(&mut self) {
        let module = self.module.get_mut().ok().and_then(Option::take);
        if let Some(module) = module {
            // SAFETY: the kernels are only reachable through `self`, which is
            // being dropped, so no code of the module can run any more.
            unsafe { module.free_memory() };
        }
    }
}

fn jit_error(cell: &str, kernel: &'static str, reason: impl ToString) -> CpuError {
    CpuError::Jit { cell: cell.to_owned(), kernel, reason: reason.to_string() }
}

/// Generates and compiles every kernel of `derived` for `dims`, for this machine.
pub(crate) fn compile(derived: &Derived, dims: &DimSizes) -> Result<Jit, CpuError> {
    let start = Instant::now();
    let cell = derived.cell.name.as_str();
    let mut flags = settings::builder();
    for (name, value) in [("opt_level", "speed"), ("use_colocated_libcalls", "false"), ("is_pic", "false")] {
        flags.set(name, value).map_err(|e| CpuError::Host(e.to_string()))?;
    }
    let isa_builder = cranelift_native::builder().map_err(|e| CpuError::Host(e.to_owned()))?;
    let isa = isa_builder.finish(settings::Flags::new(flags)).map_err(|e| CpuError::Host(e.to_string()))?;
    let target = isa.triple().to_string();
    let clif = clif::generate(derived, dims, &isa.frontend_config())?;
    let mut module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
    let mut ids = Vec::new();
    for kernel in &clif.kernels {
        let name = kernel.kind.name();
        let id = module
            .declare_function(name, Linkage::Local, &kernel.function.signature)
            .map_err(|e| jit_error(cell, name, e))?;
        let mut context = module.make_context();
        context.func = kernel.function.clone();
        module.define_function(id, &mut context).map_err(|e| jit_error(cell, name, format!("{e:?}")))?;
        ids.push((kernel.kind, id));
    }
    module.finalize_definitions().map_err(|e| jit_error(cell, "every", e))?;
    let pointer = |kind: KernelKind| {
        ids.iter().find(|(k, _)| *k == kind).map(|&(_, id)| {
            let code = module.get_finalized_function(id);
            // SAFETY: `code` is the finalized machine code of a function with
            // signature `fn(i64)` in the ISA's default (C) call convention.
            Kernel(unsafe { std::mem::transmute::<*const u8, unsafe extern "C" fn(*const KernelArgs)>(code) })
        })
    };
    let states = pointer(KernelKind::States).ok_or_else(|| jit_error(cell, "states", "missing"))?;
    let (hoist, linearize, outputs) =
        (pointer(KernelKind::Hoist), pointer(KernelKind::Linearize), pointer(KernelKind::Outputs));
    let backward = pointer(KernelKind::Backward);
    Ok(Jit {
        module: Mutex::new(Some(module)),
        hoist,
        states,
        linearize,
        outputs,
        backward,
        layout: clif.layout,
        target,
        compile_time: start.elapsed(),
    })
}
