//! [`DataError`]: every way data can fail to be read, written, or fit a cell, each
//! with a one-line message that names the file or the tensor, what was expected and
//! what was found.

use std::fmt;
use std::path::PathBuf;

use super::npy::NpyError;
use super::safetensors_file::SafetensorsError;

/// What a tensor is to a cell, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorRole {
    /// A `param`.
    Parameter,
    /// A per-step `input`, `[B, T, D]`.
    Input,
    /// The initial value of a `state`, `[B, H]`.
    InitialState,
    /// An `output`, `[B, T, H]`.
    Output,
    /// The cotangent of an `output` given to a backward pass, `[B, T, H]`.
    OutputCotangent,
}

/// A tensor named by its role and name; displays as ``parameter `Bz` ``.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorRef {
    /// What it is to the cell.
    pub role: TensorRole,
    /// Its name in the cell.
    pub name: String,
}

impl TensorRef {
    /// The tensor of `role` called `name`.
    pub fn new(role: TensorRole, name: impl Into<String>) -> Self {
        TensorRef { role, name: name.into() }
    }
}

impl fmt::Display for TensorRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TensorRole::Parameter => "parameter",
            TensorRole::Input => "input",
            TensorRole::InitialState => "initial state",
            TensorRole::Output => "output",
            TensorRole::OutputCotangent => "output cotangent",
        })
    }
}

impl fmt::Display for TensorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}`", self.role, self.name)
    }
}

/// A problem with data: a file that cannot be read or written, or tensors that do not
/// fit a cell.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The operating system refused to read or write a file.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// `read` or `write`.
        action: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// A `.npy` file that is not a float32 array.
    #[error("{}: {error}", path.display())]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        error: NpyError,
    },
    /// A `.safetensors` file that is malformed or holds a tensor that is not float32.
    #[error("{}: {error}", path.display())]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        error: SafetensorsError,
    },
    /// A run, a file or a tensor larger than the memory there is.
    #[error(transparent)]
    Memory(#[from] crate::memory::MemoryError),
    /// A tensor built from a shape and a number of values that disagree.
    #[error("a tensor of shape {shape} holds {}, but {actual} were given", match expected {
        Some(n) => format!("{n} values"),
        None => "more values than memory can address".to_owned(),
    })]
    ElementCount {
        /// The shape.
        shape: String,
        /// The values it holds, if that fits in `usize`.
        expected: Option<usize>,
        /// The values given.
        actual: usize,
    },
    /// A shape whose number of values overflows `usize`.
    #[error("a tensor of shape {shape} is too large")]
    SizeOverflow {
        /// The shape.
        shape: String,
    },
    /// Declared axes that have no size in `usize`.
    #[error("cannot lay out a tensor of shape {shape}: {reason}")]
    Layout {
        /// The shape in the cell's terms.
        shape: String,
        /// Why.
        reason: String,
    },
    /// A declared parameter absent from the parameters.
    #[error("parameter `{name}` is missing: cell `{cell}` declares it as {declared}")]
    MissingParam {
        /// The parameter.
        name: String,
        /// The cell.
        cell: String,
        /// Its declared shape, e.g. `[H, D]`.
        declared: String,
    },
    /// A parameter the cell does not declare.
    #[error("parameter `{name}` (shape {actual}) is not declared by cell `{cell}`; its parameters are {known}")]
    ExtraParam {
        /// The tensor's name.
        name: String,
        /// Its shape.
        actual: String,
        /// The cell.
        cell: String,
        /// The declared parameters, listed.
        known: String,
    },
    /// A declared input that was not given.
    #[error("input `{name}` is missing: cell `{cell}` declares it as [{size}], given as [B, T, {size}]")]
    MissingInput {
        /// The input.
        name: String,
        /// The cell.
        cell: String,
        /// Its declared length, e.g. `D`.
        size: String,
    },
    /// An input or initial state named more than once.
    #[error("{tensor} is given more than once")]
    Duplicate {
        /// The tensor.
        tensor: TensorRef,
    },
    /// An input or initial state whose name the cell does not declare.
    #[error("{tensor} (shape {actual}) is not declared by cell `{cell}`; its {kind} {known}")]
    Unknown {
        /// The tensor.
        tensor: TensorRef,
        /// Its shape.
        actual: String,
        /// The cell.
        cell: String,
        /// `inputs are` or `states are`.
        kind: &'static str,
        /// The declared names, listed.
        known: String,
    },
    /// A tensor whose shape is not the declared one, given the sizes known so far.
    #[error("{0}")]
    ShapeMismatch(Box<ShapeMismatch>),
    /// A tensor that would make a dim, B or T zero.
    #[error("{tensor} has shape {actual}, which makes {symbol} = 0; every size must be at least 1")]
    ZeroSize {
        /// The tensor.
        tensor: TensorRef,
        /// Its shape.
        actual: String,
        /// The size that would be zero: a dim's name, `B` or `T`.
        symbol: String,
    },
    /// A block-diagonal parameter whose block size does not divide its matrix.
    #[error(
        "{tensor} is declared block[{dim}, {block}], which needs {dim} to be a multiple of {block}, but {dim} = {size} (from {from})"
    )]
    BlockDoesNotDivide {
        /// The parameter.
        tensor: TensorRef,
        /// The dim it spans.
        dim: String,
        /// The block size.
        block: u64,
        /// The dim's size.
        size: u64,
        /// The tensor the size came from.
        from: TensorRef,
    },
    /// A size that no given tensor determines.
    #[error("no tensor gives {what} of cell `{cell}`")]
    NotInferred {
        /// The size: ``the size of dim `H` ``, `the batch size B` or `the sequence length T`.
        what: String,
        /// The cell.
        cell: String,
    },
    /// Dims refused by the compiler's own check (`Cell::bind_dims`).
    #[error("the sizes found in the data do not fit cell `{cell}`: {messages}")]
    Dims {
        /// The cell.
        cell: String,
        /// The compiler's messages, joined.
        messages: String,
    },
    /// A NaN or infinite value where finite values are required.
    #[error("{tensor} holds {value} at index {index} (flat index {flat}); values must be finite")]
    NonFinite {
        /// The tensor.
        tensor: TensorRef,
        /// The value: `NaN`, `inf` or `-inf`.
        value: f32,
        /// Its index along each axis, e.g. `[0, 3, 1]`.
        index: String,
        /// Its position in C order.
        flat: usize,
    },
    /// Output buffers that do not match the cell's outputs.
    #[error("cell `{cell}` has {expected} output(s), but {actual} buffer(s) were given")]
    OutputCount {
        /// The cell.
        cell: String,
        /// Outputs declared.
        expected: usize,
        /// Buffers given.
        actual: usize,
    },
    /// An output buffer of the wrong length.
    #[error("{tensor} needs {expected} values for shape {shape}, but its buffer holds {actual}")]
    OutputLength {
        /// The output.
        tensor: TensorRef,
        /// Its shape.
        shape: String,
        /// Values needed.
        expected: usize,
        /// Values in the buffer.
        actual: usize,
    },
    /// An output path that ends neither in `.npy` nor in `.safetensors`.
    #[error("{}: the output file must end in .npy (one output) or .safetensors (every output by name)", path.display())]
    OutputExtension {
        /// The path.
        path: PathBuf,
    },
    /// A `.npy` output for a cell whose outputs are not exactly one.
    #[error("{}: a .npy file holds one output, but cell `{cell}` has {count} ({names}); write a .safetensors file to get every output by name", path.display())]
    NpyNeedsOneOutput {
        /// The path.
        path: PathBuf,
        /// The cell.
        cell: String,
        /// How many outputs it has.
        count: usize,
        /// Their names, listed.
        names: String,
    },
}

/// A tensor whose shape is not the declared one; displays as
/// ``parameter `Br` has shape [1024, 256], expected [1024, 512] = [H, D] (D = 512 from parameter `Bz`)``.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeMismatch {
    /// The tensor.
    pub tensor: TensorRef,
    /// Its shape.
    pub actual: String,
    /// The expected shape, with every size known so far as a number.
    pub expected: String,
    /// The expected shape in the cell's terms, e.g. `[B, T, D]` or `[H/4, 4, 4]`.
    pub declared: String,
    /// Why the sizes are what they are, e.g. ``D = 512 from parameter `Bz` `` (may be empty).
    pub because: String,
}

impl fmt::Display for ShapeMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} has shape {}, expected {}", self.tensor, self.actual, self.expected)?;
        if self.declared != self.expected {
            write!(f, " = {}", self.declared)?;
        }
        if !self.because.is_empty() {
            write!(f, " ({})", self.because)?;
        }
        Ok(())
    }
}

/// `names` as a message lists them: `` `a`, `b`, `c` ``, or `none`.
pub(crate) fn name_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let listed: Vec<String> = names.into_iter().map(|name| format!("`{name}`")).collect();
    if listed.is_empty() { "none".to_owned() } else { listed.join(", ") }
}
