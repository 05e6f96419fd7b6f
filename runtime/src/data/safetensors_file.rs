//! `.safetensors` files through the `safetensors` crate: a named set of float32
//! tensors, read into a sorted map and written with the keys in sorted order, so the
//! same tensors always give the same bytes.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, View};

use super::atomic::write_atomically;
use super::error::DataError;
use super::tensor::{Tensor, shape_text};

/// Why the bytes of a `.safetensors` file cannot be read as float32 tensors, or
/// tensors cannot be written as one.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SafetensorsError {
    /// The bytes are not a valid safetensors file.
    #[error("not a valid .safetensors file: {message}")]
    Format {
        /// What the `safetensors` crate says.
        message: String,
    },
    /// A tensor whose values are not float32.
    #[error("tensor `{name}` (shape {shape}) has dtype {dtype}, but rnnc reads only float32 (F32) tensors")]
    NotF32 {
        /// The tensor.
        name: String,
        /// Its shape.
        shape: String,
        /// Its dtype, as safetensors names it (`F64`, `BF16`, ...).
        dtype: String,
    },
    /// Two tensors given under one name for writing.
    #[error("two tensors are named `{name}`")]
    DuplicateName {
        /// The name.
        name: String,
    },
}

/// Reads the `.safetensors` file at `path`: every tensor by name.
pub fn read_safetensors(path: &Path) -> Result<BTreeMap<String, Tensor>, DataError> {
    let bytes =
        std::fs::read(path).map_err(|source| DataError::Io { path: path.to_owned(), action: "read", source })?;
    decode_safetensors(&bytes).map_err(|error| DataError::Safetensors { path: path.to_owned(), error })
}

/// Writes `tensors` to `path` as a `.safetensors` file, keys in sorted order, atomically:
/// the file appears whole or not at all.
pub fn write_safetensors<'a>(
    path: &Path,
    tensors: impl IntoIterator<Item = (&'a str, &'a Tensor)>,
) -> Result<(), DataError> {
    let bytes = encode_safetensors(tensors).map_err(|error| DataError::Safetensors { path: path.to_owned(), error })?;
    write_atomically(path, &bytes)
}

/// Decodes the bytes of a `.safetensors` file whose tensors are all float32.
pub fn decode_safetensors(bytes: &[u8]) -> Result<BTreeMap<String, Tensor>, SafetensorsError> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| SafetensorsError::Format { message: e.to_string() })?;
    let mut tensors = BTreeMap::new();
    for (name, view) in file.iter() {
        let shape = view.shape().to_vec();
        if view.dtype() != Dtype::F32 {
            return Err(SafetensorsError::NotF32 {
                name: name.to_owned(),
                shape: shape_text(&shape),
                dtype: view.dtype().to_string(),
            });
        }
        // The stored bytes may not be 4-aligned: decode them one value at a time.
        let values: Vec<f32> =
            view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let tensor = Tensor::new(shape, values).map_err(|e| SafetensorsError::Format { message: e.to_string() })?;
        tensors.insert(name.to_owned(), tensor);
    }
    Ok(tensors)
}

/// Encodes float32 `tensors` as a `.safetensors` file, keys in sorted order.
pub fn encode_safetensors<'a>(
    tensors: impl IntoIterator<Item = (&'a str, &'a Tensor)>,
) -> Result<Vec<u8>, SafetensorsError> {
    let mut sorted: BTreeMap<&str, F32View<'_>> = BTreeMap::new();
    for (name, tensor) in tensors {
        if sorted.insert(name, F32View(tensor)).is_some() {
            return Err(SafetensorsError::DuplicateName { name: name.to_owned() });
        }
    }
    safetensors::serialize(sorted, None).map_err(|e| SafetensorsError::Format { message: e.to_string() })
}

/// A [`Tensor`] as the `safetensors` crate sees it.
struct F32View<'a>(&'a Tensor);

impl View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        self.0.shape()
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.data().iter().flat_map(|value| value.to_le_bytes()).collect())
    }

    fn data_len(&self) -> usize {
        self.0.len() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A safetensors file written by hand: an 8-byte little-endian header length, the
    /// JSON header, then the data.
    fn file_by_hand(header: &str, data: &[u8]) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    fn sample() -> BTreeMap<String, Tensor> {
        let mut tensors = BTreeMap::new();
        tensors.insert("w".to_owned(), Tensor::new(vec![2, 3], vec![1.0, -2.0, 3.5, 0.0, 1e-8, -7.25]).expect("six"));
        tensors.insert("b".to_owned(), Tensor::vector(vec![0.5, -0.5]));
        tensors.insert("block".to_owned(), Tensor::new(vec![1, 2, 2], vec![1.0, 2.0, 3.0, 4.0]).expect("four"));
        tensors
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let tensors = sample();
        let bytes = encode_safetensors(tensors.iter().map(|(k, v)| (k.as_str(), v))).expect("encodable");
        assert_eq!(decode_safetensors(&bytes).expect("decodable"), tensors);
        // Any order of the same tensors gives the same bytes, keys sorted in the header.
        let reversed: Vec<(&str, &Tensor)> = tensors.iter().rev().map(|(k, v)| (k.as_str(), v)).collect();
        assert_eq!(encode_safetensors(reversed).expect("encodable"), bytes);
        let header = String::from_utf8_lossy(&bytes[8..]);
        let (b, block, w) = (header.find("\"b\""), header.find("\"block\""), header.find("\"w\""));
        assert!(b < block && block < w, "{header}");
    }

    #[test]
    fn reads_a_file_written_by_hand() {
        let data: Vec<u8> = [1.0f32, 2.0, 3.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let bytes = file_by_hand(r#"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}"#, &data);
        let tensors = decode_safetensors(&bytes).expect("valid");
        assert_eq!(tensors["x"], Tensor::vector(vec![1.0, 2.0, 3.0]));
    }

    #[test]
    fn refuses_other_dtypes_naming_the_tensor() {
        let header = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"Bz":{"dtype":"F64","shape":[2,1],"data_offsets":[4,20]}}"#;
        let error = decode_safetensors(&file_by_hand(header, &[0; 20])).expect_err("F64");
        assert_eq!(
            error.to_string(),
            "tensor `Bz` (shape [2, 1]) has dtype F64, but rnnc reads only float32 (F32) tensors"
        );
        let header = r#"{"h":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#;
        let error = decode_safetensors(&file_by_hand(header, &[0; 4])).expect_err("BF16");
        assert!(error.to_string().contains("tensor `h` (shape [2]) has dtype BF16"), "{error}");
    }

    #[test]
    fn refuses_malformed_files_without_panicking() {
        let bytes = encode_safetensors(sample().iter().map(|(k, v)| (k.as_str(), v))).expect("encodable");
        for cut in [0, 4, 8, 20, bytes.len() - 1] {
            let error = decode_safetensors(&bytes[..cut]).expect_err("truncated");
            assert!(error.to_string().starts_with("not a valid .safetensors file: "), "{error}");
        }
        let mut garbled = bytes.clone();
        garbled[8] = b'[';
        assert!(
            decode_safetensors(&garbled).is_err_and(|e| e.to_string().starts_with("not a valid .safetensors file"))
        );
        // Any single corrupted byte gives a value or an error, never a panic.
        for position in 0..bytes.len() {
            for value in [0u8, b'9', 0xff] {
                let mut corrupted = bytes.clone();
                corrupted[position] = value;
                let _ = decode_safetensors(&corrupted);
            }
        }
    }

    #[test]
    fn files_name_the_path_and_duplicates_are_refused() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("p.safetensors");
        let tensors = sample();
        write_safetensors(&path, tensors.iter().map(|(k, v)| (k.as_str(), v))).expect("writable");
        assert_eq!(read_safetensors(&path).expect("readable"), tensors);
        let b = &tensors["b"];
        let error = write_safetensors(&dir.path().join("d.safetensors"), [("b", b), ("b", b)]).expect_err("twice");
        assert_eq!(
            error.to_string(),
            format!("{}: two tensors are named `b`", dir.path().join("d.safetensors").display())
        );
        assert!(!dir.path().join("d.safetensors").exists());
        std::fs::write(&path, b"not safetensors").expect("writable");
        let error = read_safetensors(&path).expect_err("garbage").to_string();
        assert!(error.starts_with(&format!("{}: not a valid .safetensors file: ", path.display())), "{error}");
    }
}
