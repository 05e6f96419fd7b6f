//! The cranelift back end: a cell's CPU kernels as CLIF functions.
//!
//! A cell runs on the CPU as up to four kernels, generated for bound sizes (every
//! size and offset is a constant), each a loop over rows with the calling
//! convention of [`abi`]:
//!
//! - [`KernelKind::Hoist`]: for every row `B x T`, the hoisted values: the
//!   state-independent parts of the step that hold a matrix product (`W @ x + b`,
//!   even `sigmoid(W @ x + b)`), from the inputs and the input projections, which
//!   the runtime computes first as matrix products (the plan's launches).
//! - [`KernelKind::States`]: the step over every channel of one sequence: from
//!   the hoisted values and the previous state, the next state.
//! - [`KernelKind::Linearize`]: the step and its state Jacobian, stored as its
//!   proved structure allows ([`JacobianLayout`]): what each Newton iteration
//!   evaluates at every step. Absent for dense Jacobians wider than
//!   [`crate::plan::Device::Cpu`]'s dense limit.
//! - [`KernelKind::Outputs`]: the outputs that are not states, once the states
//!   are known.
//! - [`KernelKind::Backward`]: the step's vector-Jacobian product
//!   (`crate::derive::adjoint`) over one sequence, from its last row to its
//!   first: from the solved states, the output cotangents and the state
//!   cotangent after each step, the one before it, the input projections' and
//!   inputs' cotangents, and the parameters' shares ([`BackwardLayout`]).
//!
//! Channels are vectorised four lanes at a time (`f32x4`); transcendental
//! functions are inlined approximations (the `math` module's documentation lists
//! them and their accuracy, within a few units in the last place), so the kernels
//! call no host symbol. State-dependent matrix
//! products (block or dense) are loops in the kernels.

pub mod abi;
mod backward;
mod emit;
mod kernels;
mod lanes;
mod layout;
mod math;
mod outer;
mod program;

use std::fmt::Write as _;

use cranelift_codegen::ir::Function;
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig};
use cranelift_codegen::settings;

pub use layout::{BackwardLayout, ChannelSplit, CpuLayout, JacobianLayout, OutputSource, PreValue, Slot};

use crate::Derived;
use crate::check::{Cell, DimSizes};
use crate::error::{Error, ErrorKind};
use crate::span::Span;

/// What a kernel computes. See the [module documentation](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelKind {
    /// The hoisted values of every row.
    Hoist,
    /// The next state.
    States,
    /// The next state and the state Jacobian.
    Linearize,
    /// The outputs that are not states.
    Outputs,
    /// The step's vector-Jacobian product, rows in reverse.
    Backward,
}

impl KernelKind {
    /// The kernel's name in the text form.
    pub fn name(self) -> &'static str {
        match self {
            KernelKind::Hoist => "hoist",
            KernelKind::States => "states",
            KernelKind::Linearize => "linearize",
            KernelKind::Outputs => "outputs",
            KernelKind::Backward => "backward",
        }
    }
}

/// One generated kernel.
#[derive(Clone, Debug)]
pub struct ClifKernel {
    /// What it computes.
    pub kind: KernelKind,
    /// The function: one pointer argument (the [`abi`] record), no result.
    pub function: Function,
}

/// Every kernel of a cell, with the layout of the buffers they use.
#[derive(Clone, Debug)]
pub struct ClifCell {
    /// Where everything lives.
    pub layout: CpuLayout,
    /// The kernels, in the order hoist, states, linearize, outputs, backward
    /// (those that exist).
    pub kernels: Vec<ClifKernel>,
}

impl ClifCell {
    /// The kernel of kind `kind`, if the cell has one.
    pub fn kernel(&self, kind: KernelKind) -> Option<&ClifKernel> {
        self.kernels.iter().find(|k| k.kind == kind)
    }
}

/// A 64-bit System V target: what [`clif_text`] generates for.
pub fn default_target() -> TargetFrontendConfig {
    TargetFrontendConfig {
        default_call_conv: CallConv::SystemV,
        pointer_width: target_lexicon::PointerWidth::U64,
        page_size_align_log2: 12,
    }
}

/// Generates every kernel of `derived` with dims `dims`, for `target` (its call
/// convention; pointers must be 64 bits).
pub fn generate(derived: &Derived, dims: &DimSizes, target: &TargetFrontendConfig) -> Result<ClifCell, Error> {
    let plans = kernels::plan_kernels(derived, dims)?;
    check_offsets(&derived.cell, &plans.layout)?;
    let context =
        program::Context { cell: &derived.cell, graph: &plans.graph, dims, param_offsets: &plans.param_offsets };
    let mut generated = Vec::with_capacity(plans.kernels.len());
    for (index, planned) in plans.kernels.iter().enumerate() {
        let shape = planned.shape(plans.layout.jacobian);
        let function = emit::emit_kernel(&context, &shape, &planned.program, target, index as u32)?;
        generated.push(ClifKernel { kind: planned.kind, function });
    }
    Ok(ClifCell { layout: plans.layout, kernels: generated })
}

/// Why a cell has no Newton kernel on the CPU: its states are one lane (a dense
/// Jacobian, or a reduction, slice, spread or fold reading across channels)
/// of more unknowns than `Device::Cpu.dense_newton_unknowns()`.
pub const NO_NEWTON: &str = "the state is one lane of more unknowns than Newton solves on the CPU (a dense Jacobian, \
                             or values read across channels)";

/// Why the CPU back end has no Newton kernel for `derived` at the sizes `dims`
/// ([`NO_NEWTON`]), if it has none: the kernels [`generate`] plans, without
/// generating them.
pub fn no_newton(derived: &Derived, dims: &DimSizes) -> Result<Option<&'static str>, Error> {
    let plans = kernels::plan_kernels(derived, dims)?;
    Ok((!plans.kernels.iter().any(|k| k.kind == KernelKind::Linearize)).then_some(NO_NEWTON))
}

/// The kernels as CLIF text (`rnnc compile --emit clif`), for [`default_target`],
/// each verified by cranelift's verifier and preceded by a comment line.
pub fn clif_text(derived: &Derived, dims: &DimSizes) -> Result<String, Error> {
    let cell = generate(derived, dims, &default_target())?;
    let flags = settings::Flags::new(settings::builder());
    let layout = &cell.layout;
    let mut text = String::new();
    let split = match layout.split {
        Some(split) => format!("channel-split (granule {})", split.granule),
        None => "whole rows".to_owned(),
    };
    let _ = writeln!(
        text,
        "; cell {}: jacobian {} (block {}, {} groups), {split}; rows: pre {}, state {}, outputs {}; scratch {}",
        derived.cell.name,
        layout.jacobian.structure,
        layout.jacobian.block,
        layout.jacobian.groups,
        layout.pre_width,
        layout.state_width,
        layout.output_width,
        layout.scratch_len,
    );
    for kernel in &cell.kernels {
        cranelift_codegen::verify_function(&kernel.function, &flags)
            .map_err(|errors| internal(&derived.cell, &errors.to_string()))?;
        let _ = writeln!(text, "\n; kernel {}", kernel.kind.name());
        let _ = write!(text, "{}", kernel.function.display());
    }
    Ok(text)
}

/// Refuses a layout whose constant byte offsets would not fit the kernels' 32-bit
/// immediates ([`crate::limits::MAX_CONSTANT_OFFSET_WORDS`]): the packed
/// parameters, and the rows of hoisted values, states, outputs, projections and
/// Jacobians, and the scratch.
fn check_offsets(cell: &Cell, layout: &CpuLayout) -> Result<(), Error> {
    let buffers = [
        ("the packed parameters", layout.params_len),
        ("a row of the hoisted values", layout.pre_width),
        ("a row of the states", layout.state_width),
        ("a row of the outputs", layout.output_width),
        ("a row of the input projections", layout.projection_width),
        ("a row of the state Jacobians", layout.jacobian.len()),
        ("the scratch of a thread", layout.scratch_len),
    ];
    for (what, words) in buffers {
        if words as u64 > crate::limits::MAX_CONSTANT_OFFSET_WORDS {
            return Err(crate::limits::buffer_too_large(
                format!("{what} of cell `{}`", cell.name),
                words as u128,
                crate::limits::MAX_CONSTANT_OFFSET_WORDS,
                crate::limits::CONSTANT_OFFSET_REASON,
                crate::limits::cell_head(cell),
            ));
        }
    }
    Ok(())
}

/// A cell this back end cannot compile.
fn unsupported(cell: &Cell, reason: &str) -> Error {
    Error::new(
        ErrorKind::BackendUnsupported { backend: "cranelift", cell: cell.name.clone(), reason: reason.to_owned() },
        cell.span,
        "in this cell",
    )
}

/// A bug in this back end.
fn internal(cell: &Cell, reason: &str) -> Error {
    Error::new(
        ErrorKind::InvalidGeneratedCode { language: "CLIF", cell: cell.name.clone(), reason: reason.to_owned() },
        Span::default(),
        "",
    )
}

#[cfg(test)]
mod tests;
