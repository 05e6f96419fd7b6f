//! `.npy` files, read and written by hand: versions 1.0, 2.0 and 3.0 of numpy's format,
//! holding little-endian float32 arrays in C order. Anything else is refused with an
//! [`NpyError`] that says what the file holds and what rnnc needs.
//!
//! Layout: the magic `\x93NUMPY`, a major and a minor version byte, the header length
//! (u16 little-endian in 1.0, u32 in 2.0 and 3.0), the header (a Python dict literal,
//! latin-1 in 1.0 and 2.0, UTF-8 in 3.0, padded with spaces and ended by `\n` so the
//! data starts at a multiple of 64 bytes), then the values.

mod header;

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use super::atomic::StagedFiles;
use super::error::DataError;
use super::tensor::{Tensor, element_count, shape_text};
use header::{Descr, parse_header};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// numpy aligns the start of the data to this many bytes.
const ALIGN: usize = 64;

/// Why the bytes of a `.npy` file cannot be read as a float32 array.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum NpyError {
    /// The file does not start with `\x93NUMPY`.
    #[error("not a .npy file: it starts with {found} instead of the magic \\x93NUMPY")]
    BadMagic {
        /// The first bytes, escaped.
        found: String,
    },
    /// A format version other than 1.0, 2.0 and 3.0.
    #[error(".npy format version {major}.{minor} is not supported (rnnc reads versions 1.0, 2.0 and 3.0)")]
    UnsupportedVersion {
        /// The major version.
        major: u8,
        /// The minor version.
        minor: u8,
    },
    /// The file ends inside its preamble or header.
    #[error("the file is truncated: its header needs {needed} bytes, but the file has {actual}")]
    TruncatedHeader {
        /// Bytes needed up to the end of the header.
        needed: usize,
        /// Bytes in the file.
        actual: usize,
    },
    /// The header is not text in the version's encoding.
    #[error("the header is not valid {encoding} text")]
    HeaderEncoding {
        /// `latin-1` or `UTF-8`.
        encoding: &'static str,
    },
    /// The header is not the dict numpy writes.
    #[error("malformed header: {reason} (header: {header})")]
    MalformedHeader {
        /// What is wrong.
        reason: String,
        /// The header text, shortened.
        header: String,
    },
    /// The values are not little-endian float32.
    #[error(
        "the array has dtype {found}, but rnnc reads only little-endian float32 ('<f4'); convert it with `a.astype('<f4')`"
    )]
    UnsupportedDtype {
        /// The dtype as written, with its meaning.
        found: String,
    },
    /// The values are stored column-major.
    #[error(
        "the array is stored in Fortran order ('fortran_order': True), but rnnc reads only C order; save `np.ascontiguousarray(a)`"
    )]
    FortranOrder,
    /// The shape's size does not fit in memory addresses.
    #[error("the shape {shape} is too large")]
    ShapeTooLarge {
        /// The shape.
        shape: String,
    },
    /// The data is shorter or longer than the shape says.
    #[error(
        "the header declares shape {shape} ({values} float32 values, {expected} bytes), but {actual} bytes of data follow{}",
        if actual < expected { " (the file is truncated)" } else { "" }
    )]
    DataLength {
        /// The declared shape.
        shape: String,
        /// Values the shape holds.
        values: usize,
        /// Bytes the shape needs.
        expected: usize,
        /// Bytes after the header.
        actual: usize,
    },
}

/// Reads the `.npy` file at `path`, streaming the values (no copy of the whole file
/// is held besides the tensor).
pub fn read_npy(path: &Path) -> Result<Tensor, DataError> {
    let io = |source| DataError::Io { path: path.to_owned(), action: "read", source };
    let npy = |error| DataError::Npy { path: path.to_owned(), error };
    let mut file = File::open(path).map_err(io)?;
    let file_len = usize::try_from(file.metadata().map_err(io)?.len()).unwrap_or(usize::MAX);
    // Read exactly the preamble and the header, so the data follows in the file.
    let mut head = Vec::new();
    (&mut file).take(8).read_to_end(&mut head).map_err(io)?;
    let length_bytes = length_field_size(&head, file_len).map_err(npy)?;
    (&mut file).take(length_bytes as u64).read_to_end(&mut head).map_err(io)?;
    let data_start = data_start(&head, length_bytes, file_len).map_err(npy)?;
    (&mut file).take((data_start - head.len()) as u64).read_to_end(&mut head).map_err(io)?;
    let (shape, count) = parse_layout(&head, length_bytes, file_len - data_start).map_err(npy)?;
    // `count` is bounded by the file's length, checked in `parse_layout`.
    let mut values = Vec::with_capacity(count);
    let mut buffer = vec![0u8; (count * 4).min(1 << 20)];
    let mut remaining = count * 4;
    while remaining > 0 {
        let chunk = &mut buffer[..remaining.min(1 << 20)];
        file.read_exact(chunk).map_err(io)?;
        values.extend(chunk.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        remaining -= chunk.len();
    }
    Tensor::new(shape, values)
}

/// Writes `tensor` to `path` as a `.npy` file, atomically: the file appears whole or
/// not at all.
pub fn write_npy(path: &Path, tensor: &Tensor) -> Result<(), DataError> {
    let mut files = StagedFiles::new();
    stage_npy(&mut files, path, tensor)?;
    files.commit()
}

/// Stages `tensor` as a `.npy` file for `path` among `files` (written when they
/// are committed).
pub fn stage_npy(files: &mut StagedFiles, path: &Path, tensor: &Tensor) -> Result<(), DataError> {
    files.write_with(path, |out| {
        out.write_all(&encode_header(tensor.shape()))?;
        for chunk in tensor.data().chunks(1 << 16) {
            let bytes: Vec<u8> = chunk.iter().flat_map(|value| value.to_le_bytes()).collect();
            out.write_all(&bytes)?;
        }
        Ok(())
    })
}

/// Decodes the bytes of a `.npy` file holding a little-endian float32 C-order array.
pub fn decode_npy(bytes: &[u8]) -> Result<Tensor, NpyError> {
    let length_bytes = length_field_size(bytes, bytes.len())?;
    let data_start = data_start(bytes, length_bytes, bytes.len())?;
    let (shape, _) = parse_layout(&bytes[..data_start], length_bytes, bytes.len() - data_start)?;
    let values: Vec<f32> =
        bytes[data_start..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    // `parse_layout` checked that the data holds exactly the shape's values.
    Tensor::new(shape.clone(), values).map_err(|_| NpyError::ShapeTooLarge { shape: shape_text(&shape) })
}

/// Encodes `tensor` as numpy writes it: version 1.0 (2.0 if the header does not fit in
/// 65535 bytes), the header padded so the data starts at a multiple of 64 bytes.
pub fn encode_npy(tensor: &Tensor) -> Vec<u8> {
    let mut bytes = encode_header(tensor.shape());
    bytes.reserve(4 * tensor.len());
    for value in tensor.data() {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    bytes
}

/// The preamble and padded header numpy writes for a float32 array of `shape`.
fn encode_header(shape: &[usize]) -> Vec<u8> {
    let text = header::header_text(shape);
    // As numpy's `_wrap_header`: the header with its final newline, padded so that
    // preamble + header is a multiple of 64 (a whole extra 64 when it already is).
    let unpadded = text.len() + 1;
    let padded = |preamble: usize| unpadded + ALIGN - (preamble + unpadded) % ALIGN;
    let (major, preamble) = if padded(10) <= usize::from(u16::MAX) { (1u8, 10) } else { (2u8, 12) };
    let header_len = padded(preamble);
    let mut bytes = Vec::with_capacity(preamble + header_len);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&[major, 0]);
    if major == 1 {
        bytes.extend_from_slice(&(header_len as u16).to_le_bytes());
    } else {
        bytes.extend_from_slice(&(header_len as u32).to_le_bytes());
    }
    bytes.extend_from_slice(text.as_bytes());
    bytes.resize(preamble + header_len - 1, b' ');
    bytes.push(b'\n');
    bytes
}

/// Checks the magic and the version in `head`, the first bytes of a file of
/// `file_len` bytes; returns the size of the header length field (2 or 4 bytes).
fn length_field_size(head: &[u8], file_len: usize) -> Result<usize, NpyError> {
    if head.len() < MAGIC.len() || &head[..MAGIC.len()] != MAGIC {
        let found = head.iter().take(MAGIC.len()).flat_map(|b| std::ascii::escape_default(*b)).map(char::from);
        return Err(NpyError::BadMagic { found: format!("\"{}\"", found.collect::<String>()) });
    }
    match head.get(6..8) {
        Some(&[1, 0]) => Ok(2),
        Some(&[2, 0] | &[3, 0]) => Ok(4),
        Some(&[major, minor]) => Err(NpyError::UnsupportedVersion { major, minor }),
        _ => Err(NpyError::TruncatedHeader { needed: 10, actual: file_len }),
    }
}

/// Where the data starts, from the header length field in `head`; an error if the
/// file of `file_len` bytes ends before.
fn data_start(head: &[u8], length_bytes: usize, file_len: usize) -> Result<usize, NpyError> {
    let header_start = 8 + length_bytes;
    let Some(field) = head.get(8..header_start) else {
        return Err(NpyError::TruncatedHeader { needed: header_start, actual: file_len });
    };
    let header_len = field.iter().rev().fold(0usize, |n, &b| (n << 8) | usize::from(b));
    let data_start = header_start + header_len;
    if data_start > file_len {
        return Err(NpyError::TruncatedHeader { needed: data_start, actual: file_len });
    }
    Ok(data_start)
}

/// The shape and number of values that `head` (preamble and header, nothing more,
/// its length field `length_bytes` long) declares, checked: float32, C order, and exactly `data_len` bytes of data.
fn parse_layout(head: &[u8], length_bytes: usize, data_len: usize) -> Result<(Vec<usize>, usize), NpyError> {
    let header_bytes = head.get(8 + length_bytes..).unwrap_or_default();
    let header_text = if head.get(6) == Some(&3) {
        let encoding = "UTF-8";
        std::str::from_utf8(header_bytes).map_err(|_| NpyError::HeaderEncoding { encoding })?.to_owned()
    } else {
        // Latin-1 maps each byte to the code point of the same value.
        header_bytes.iter().map(|&b| char::from(b)).collect()
    };
    let header = parse_header(&header_text)
        .map_err(|reason| NpyError::MalformedHeader { reason, header: shorten(header_text.trim_end()) })?;
    match &header.descr {
        Descr::Simple(descr) if descr == "<f4" => {}
        Descr::Simple(descr) => {
            return Err(NpyError::UnsupportedDtype { found: format!("'{descr}' ({})", dtype_meaning(descr)) });
        }
        Descr::Other(text) => {
            return Err(NpyError::UnsupportedDtype { found: format!("{} (a structured dtype)", shorten(text)) });
        }
    }
    if header.fortran_order {
        return Err(NpyError::FortranOrder);
    }
    let too_large = || NpyError::ShapeTooLarge {
        shape: format!("[{}]", header.shape.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")),
    };
    let shape: Vec<usize> =
        header.shape.iter().map(|&n| usize::try_from(n).ok()).collect::<Option<_>>().ok_or_else(too_large)?;
    let values = element_count(&shape).ok_or_else(too_large)?;
    let expected = values.checked_mul(4).ok_or_else(too_large)?;
    if data_len != expected {
        return Err(NpyError::DataLength { shape: shape_text(&shape), values, expected, actual: data_len });
    }
    Ok((shape, values))
}

/// What a simple dtype string means, for messages.
fn dtype_meaning(descr: &str) -> String {
    let mut chars = descr.chars();
    let order = chars.next();
    let code: String = chars.collect();
    let base = match code.as_str() {
        "f2" | "e" => "float16",
        "f4" | "f" => "float32",
        "f8" | "d" => "float64",
        "f16" | "g" | "f12" => "long double",
        "i1" => "int8",
        "i2" => "int16",
        "i4" => "int32",
        "i8" => "int64",
        "u1" => "uint8",
        "u2" => "uint16",
        "u4" => "uint32",
        "u8" => "uint64",
        "b1" | "?" => "bool",
        "c8" => "complex64",
        "c16" => "complex128",
        _ if code.starts_with('U') => "unicode string",
        _ if code.starts_with('S') => "byte string",
        _ if code.starts_with('O') => "Python object",
        _ if code.starts_with('V') => "raw bytes",
        _ => return "an unknown dtype".to_owned(),
    };
    match order {
        Some('>') => format!("big-endian {base}"),
        Some('=') => format!("native-endian {base}"),
        _ => base.to_owned(),
    }
}

/// `text`, cut to at most 200 characters for a message.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests;
