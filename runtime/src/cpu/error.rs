//! What can go wrong on the CPU path, as values.

use rnnc_compiler::Error as CompileError;

/// Why the CPU back end could not compile or run a cell.
#[derive(Debug, thiserror::Error)]
pub enum CpuError {
    /// The cell could not be compiled to CLIF.
    #[error("{0}")]
    Codegen(Box<CompileError>),
    /// The host is not one cranelift generates code for.
    #[error("cranelift cannot generate code for this machine: {0}")]
    Host(String),
    /// Cranelift rejected a generated function (a bug in rnnc).
    #[error("cranelift failed to compile the {kernel} kernel of cell `{cell}`: {reason}")]
    Jit {
        /// The cell.
        cell: String,
        /// The kernel.
        kernel: &'static str,
        /// Cranelift's message.
        reason: String,
    },
    /// Data bound with sizes other than those the cell was compiled for.
    #[error("cell `{cell}` was compiled for {compiled}, but the data has {found}; compile it for these sizes")]
    SizesDiffer {
        /// The cell.
        cell: String,
        /// The sizes it was compiled for.
        compiled: String,
        /// The sizes of the data.
        found: String,
    },
    /// A buffer given to a low-level call has the wrong length.
    #[error("{what} has {found} values, expected {expected}")]
    WrongLength {
        /// Which buffer.
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// A buffer would not fit in memory.
    #[error("{what} needs {floats} floats, more than this machine can allocate")]
    OutOfMemory {
        /// Which buffer.
        what: &'static str,
        /// Its size.
        floats: String,
    },
    /// The cell has no backward kernel (its adjoint uses what the CPU back end
    /// cannot compile).
    #[error("cell `{cell}` has no CPU backward pass: {reason}")]
    NoBackward {
        /// The cell.
        cell: String,
        /// Why.
        reason: String,
    },
    /// Newton's settings are unusable (a NaN or negative tolerance, ...).
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    /// A worker thread panicked (a bug in rnnc).
    #[error("a CPU worker thread failed: {0}")]
    Worker(String),
}

impl From<CompileError> for CpuError {
    fn from(error: CompileError) -> Self {
        CpuError::Codegen(Box::new(error))
    }
}
