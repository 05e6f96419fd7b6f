//! Tensors in files: `.npy` arrays and `.safetensors` parameter sets, and binding them to a cell.
//!
//! The flow of one run's data:
//! - read: [`read_npy`] for each input and initial state (`[B, T, D]`, `[B, H]`),
//!   [`read_safetensors`] for the parameters (one file, one tensor per `param`);
//! - bind: [`BoundData::bind`] checks all of it against a checked cell before any work
//!   (every name, every shape, every size consistent across tensors, every value
//!   finite) and holds the tensors in declaration order with the dims, `B` and `T`;
//! - write: [`output_tensors`] shapes the raw results `[B, T, H]`, and
//!   [`write_outputs`] writes them to `.npy` or `.safetensors` by the path's extension.
//!
//! Every failure is a [`DataError`] naming the file or the tensor, what was expected
//! and what was found. Nothing here panics on any input, and files are written
//! through a temporary file and a rename, so a failed write leaves nothing behind;
//! [`StagedFiles`] does the same for all the files of one command together
//! (outputs, report, gradients), renamed only once every one is written.

mod atomic;
mod bind;
mod error;
mod exchange;
mod finite;
mod gradients;
pub mod layout;
mod npy;
mod output;
pub mod random;
mod safetensors_file;
mod sizes;
mod tensor;

pub use atomic::StagedFiles;
pub use bind::BoundData;
pub use error::{DataError, ShapeMismatch, TensorRef, TensorRole};
pub use exchange::{ExchangeLayout, REGION_ALIGN_WORDS, Region};
pub use finite::{FirstNonFiniteOutput, FirstNonFiniteValue, NonFiniteOutputs, NonFiniteTensors};
pub use gradients::Gradients;
pub use npy::{NpyError, decode_npy, encode_npy, read_npy, stage_npy, write_npy};
pub use output::{OutputFormat, output_tensors, stage_outputs, write_outputs};
pub use safetensors_file::{
    SafetensorsError, decode_safetensors, encode_safetensors, read_safetensors, stage_safetensors, write_safetensors,
};
pub use tensor::{Tensor, element_count, shape_text};
