//! `.safetensors` files: a named set of float32 tensors, read into a sorted map
//! and written with the keys in sorted order (by the `safetensors` crate), so the
//! same tensors always give the same bytes.
//!
//! Reading is done here, not by the crate, so that a file is never read whole
//! before its header is checked (a length field of 2^60, `/dev/zero`), and so that
//! every message names what is wrong: the tensor whose shape and byte range
//! disagree, a repeated name, a truncated file, an `.npy` file given instead.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use safetensors::tensor::{Dtype, View};

use super::atomic::StagedFiles;
use super::error::DataError;
use super::tensor::{Tensor, element_count, shape_text};

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

/// The largest header a `.safetensors` file may have (16 MiB, room for some
/// 200,000 tensors); the length field of anything else (an `.npy` file, text) is
/// almost always far larger.
pub const MAX_HEADER_BYTES: u64 = 16 * 1024 * 1024;

/// Reads the `.safetensors` file at `path`: every tensor by name. The header is
/// read and checked first (at most [`MAX_HEADER_BYTES`]); then exactly the data it
/// declares, which must fit in memory and be what follows in the file.
pub fn read_safetensors(path: &Path) -> Result<BTreeMap<String, Tensor>, DataError> {
    let io = |source| DataError::Io { path: path.to_owned(), action: "read", source };
    let format = |error| DataError::Safetensors { path: path.to_owned(), error };
    let mut file = File::open(path).map_err(io)?;
    let metadata = file.metadata().map_err(io)?;
    // A regular file's length is known; a pipe or a device (`/dev/zero`) is read
    // only as far as the header says, plus one byte to find trailing data.
    let file_len = metadata.is_file().then_some(metadata.len());
    let mut head = Vec::with_capacity(8);
    (&mut file).take(8).read_to_end(&mut head).map_err(io)?;
    let header_len = header_length(&head, file_len).map_err(format)?;
    let mut header = Vec::with_capacity(header_len as usize);
    (&mut file).take(header_len).read_to_end(&mut header).map_err(io)?;
    if (header.len() as u64) < header_len {
        return Err(format(truncated(format!(
            "its header needs {header_len} bytes after the 8-byte length, but only {} follow",
            header.len()
        ))));
    }
    let entries = parse_header(&header).map_err(format)?;
    let data_len = entries.last().map_or(0, |entry| entry.end);
    if let Some(file_len) = file_len {
        check_data_length(data_len, file_len - 8 - header_len).map_err(format)?;
    }
    crate::memory::check_fits(format_args!("the tensors of {}", path.display()), data_len)?;
    let mut tensors = BTreeMap::new();
    let mut buffer = vec![0u8; (data_len as usize).min(1 << 20)];
    for entry in entries {
        let mut values = Vec::with_capacity(entry.count);
        let mut remaining = entry.count * 4;
        while remaining > 0 {
            let chunk = &mut buffer[..remaining.min(1 << 20)];
            file.read_exact(chunk).map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => format(truncated(format!(
                    "the data of tensor `{}` (bytes {}..{} of the data) is cut short",
                    entry.name, entry.start, entry.end
                ))),
                _ => io(e),
            })?;
            values.extend(chunk.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
            remaining -= chunk.len();
        }
        tensors.insert(entry.name, Tensor::new(entry.shape, values)?);
    }
    if file_len.is_none() && (&mut file).take(1).read_to_end(&mut Vec::new()).map_err(io)? > 0 {
        return Err(format(SafetensorsError::Format {
            message: format!("more bytes follow the {data_len} bytes of data its header declares"),
        }));
    }
    Ok(tensors)
}

/// Writes `tensors` to `path` as a `.safetensors` file, keys in sorted order, atomically:
/// the file appears whole or not at all.
pub fn write_safetensors<'a>(
    path: &Path,
    tensors: impl IntoIterator<Item = (&'a str, &'a Tensor)>,
) -> Result<(), DataError> {
    let mut files = StagedFiles::new();
    stage_safetensors(&mut files, path, tensors)?;
    files.commit()
}

/// Stages `tensors` as a `.safetensors` file for `path` among `files` (written
/// when they are committed).
pub fn stage_safetensors<'a>(
    files: &mut StagedFiles,
    path: &Path,
    tensors: impl IntoIterator<Item = (&'a str, &'a Tensor)>,
) -> Result<(), DataError> {
    let bytes = encode_safetensors(tensors).map_err(|error| DataError::Safetensors { path: path.to_owned(), error })?;
    files.bytes(path, &bytes)
}

/// Decodes the bytes of a `.safetensors` file whose tensors are all float32.
pub fn decode_safetensors(bytes: &[u8]) -> Result<BTreeMap<String, Tensor>, SafetensorsError> {
    let header_len = header_length(bytes, Some(bytes.len() as u64))?;
    let header_end = 8 + header_len as usize;
    let entries = parse_header(&bytes[8..header_end])?;
    let data = &bytes[header_end..];
    check_data_length(entries.last().map_or(0, |entry| entry.end), data.len() as u64)?;
    let mut tensors = BTreeMap::new();
    for entry in entries {
        // The stored bytes may not be 4-aligned: decode them one value at a time.
        let values: Vec<f32> = data[entry.start as usize..entry.end as usize]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let tensor =
            Tensor::new(entry.shape, values).map_err(|e| SafetensorsError::Format { message: e.to_string() })?;
        tensors.insert(entry.name, tensor);
    }
    Ok(tensors)
}

fn truncated(message: String) -> SafetensorsError {
    SafetensorsError::Format { message: format!("the file is truncated: {message}") }
}

/// The header length from the first 8 bytes, checked against the limit and, if
/// known, the file's length.
fn header_length(head: &[u8], file_len: Option<u64>) -> Result<u64, SafetensorsError> {
    if head.starts_with(b"\x93NUMPY") {
        return Err(SafetensorsError::Format {
            message: "this is a .npy file; parameters are one .safetensors file with a tensor per `param`".to_owned(),
        });
    }
    let Some(length) = head.get(..8) else {
        return Err(truncated(format!(
            "it has {} bytes, but a .safetensors file starts with an 8-byte header length",
            head.len()
        )));
    };
    let header_len = u64::from_le_bytes(length.try_into().unwrap_or([0; 8]));
    if header_len > MAX_HEADER_BYTES {
        return Err(SafetensorsError::Format {
            message: format!(
                "its first 8 bytes give a header of {header_len} bytes, more than the {MAX_HEADER_BYTES} bytes (16 MiB) \
                 rnnc reads{}",
                file_len.map_or(String::new(), |len| format!(" and than the whole file ({len} bytes)"))
            ),
        });
    }
    if let Some(file_len) = file_len
        && header_len > file_len.saturating_sub(8)
    {
        return Err(truncated(format!(
            "its first 8 bytes give a header of {header_len} bytes, but only {} bytes follow",
            file_len.saturating_sub(8)
        )));
    }
    Ok(header_len)
}

/// The data the header declares against the bytes after the header.
fn check_data_length(declared: u64, actual: u64) -> Result<(), SafetensorsError> {
    if actual < declared {
        return Err(truncated(format!(
            "its header declares {declared} bytes of tensor data, but only {actual} bytes follow"
        )));
    }
    if actual > declared {
        return Err(SafetensorsError::Format {
            message: format!(
                "{} bytes follow the {declared} bytes of tensor data its header declares",
                actual - declared
            ),
        });
    }
    Ok(())
}

/// One tensor as the header describes it, checked.
#[derive(Debug)]
struct Entry {
    name: String,
    shape: Vec<usize>,
    count: usize,
    start: u64,
    end: u64,
}

/// The header's tensors, sorted by where their data starts; an error for anything
/// but a JSON object of float32 tensors whose shapes match their byte ranges,
/// which follow each other from byte 0 without gaps or overlaps.
fn parse_header(header: &[u8]) -> Result<Vec<Entry>, SafetensorsError> {
    let format = |message: String| SafetensorsError::Format { message };
    let text = std::str::from_utf8(header).map_err(|e| {
        format(format!("its header is not UTF-8 text (invalid byte at offset {} of the header)", e.valid_up_to() + 8))
    })?;
    if text.trim().is_empty() {
        return Err(format(if header.is_empty() {
            "its header is empty (its first 8 bytes give a length of 0)".to_owned()
        } else {
            format!("its header is {} bytes of blanks", header.len())
        }));
    }
    if !text.trim_start().starts_with('{') {
        let shown: String = text.chars().take(20).flat_map(char::escape_default).collect();
        return Err(format(format!("its header is not a JSON object (it starts with \"{shown}\")")));
    }
    let HeaderEntries(raw) =
        serde_json::from_str(text).map_err(|e| format(format!("its header is not valid JSON: {e}")))?;
    let mut seen = std::collections::HashSet::new();
    let mut entries = Vec::with_capacity(raw.len());
    for (name, value) in raw {
        if !seen.insert(name.clone()) {
            return Err(format(format!("its header names tensor `{name}` more than once")));
        }
        if name == "__metadata__" {
            continue;
        }
        let field =
            |key: &str| value.get(key).ok_or_else(|| format(format!("tensor `{name}` has no `{key}` in the header")));
        let shape: Vec<usize> = field("shape")?
            .as_array()
            .and_then(|axes| axes.iter().map(|a| a.as_u64().and_then(|n| usize::try_from(n).ok())).collect())
            .ok_or_else(|| format(format!("the shape of tensor `{name}` is not a list of sizes")))?;
        let dtype =
            field("dtype")?.as_str().ok_or_else(|| format(format!("the dtype of tensor `{name}` is not a string")))?;
        if dtype != "F32" {
            return Err(SafetensorsError::NotF32 { name, shape: shape_text(&shape), dtype: dtype.to_owned() });
        }
        let offsets = field("data_offsets")?
            .as_array()
            .and_then(|o| match o.as_slice() {
                [start, end] => Some((start.as_u64()?, end.as_u64()?)),
                _ => None,
            })
            .ok_or_else(|| format(format!("the data_offsets of tensor `{name}` are not two byte offsets")))?;
        let count = element_count(&shape);
        let bytes = count.and_then(|n| n.checked_mul(4)).map(|b| b as u64);
        if offsets.1 < offsets.0 || bytes != Some(offsets.1 - offsets.0) {
            return Err(format(format!(
                "tensor `{name}` has shape {} ({}), but its data_offsets [{}, {}] hold {} bytes",
                shape_text(&shape),
                bytes.map_or("more bytes than memory can address".to_owned(), |b| format!("{b} bytes of float32")),
                offsets.0,
                offsets.1,
                offsets.1 as i128 - offsets.0 as i128
            )));
        }
        entries.push(Entry { name, shape, count: count.unwrap_or(0), start: offsets.0, end: offsets.1 });
    }
    entries.sort_by_key(|entry| (entry.start, entry.end));
    let mut expected = 0;
    for entry in &entries {
        if entry.start != expected {
            return Err(format(format!(
                "the data of tensor `{}` starts at byte {}, but {} (tensors must follow each other from byte 0 \
                 without gaps or overlaps)",
                entry.name,
                entry.start,
                if expected == 0 {
                    "the first must start at byte 0".to_owned()
                } else {
                    format!("the tensors before it end at byte {expected}")
                }
            )));
        }
        expected = entry.end;
    }
    Ok(entries)
}

/// A JSON object's members in order, repeated names kept (serde_json's map would
/// keep only the last).
struct HeaderEntries(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for HeaderEntries {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = HeaderEntries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<HeaderEntries, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, serde_json::Value>()? {
                    members.push(member);
                }
                Ok(HeaderEntries(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
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
    fn every_malformed_header_is_named_precisely() {
        let data = [0u8; 16];
        let cases = [
            (
                file_by_hand(r#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, &data[..10]),
                "the file is truncated: its header declares 16 bytes of tensor data, but only 10 bytes follow",
            ),
            (
                file_by_hand(r#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, &[0; 20]),
                "4 bytes follow the 16 bytes of tensor data its header declares",
            ),
            (
                file_by_hand(r#"{"w":{"dtype":"F32","shape":[2,4],"data_offsets":[0,16]}}"#, &data),
                "tensor `w` has shape [2, 4] (32 bytes of float32), but its data_offsets [0, 16] hold 16 bytes",
            ),
            (
                file_by_hand(
                    r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#,
                    &data,
                ),
                "its header names tensor `a` more than once",
            ),
            (
                file_by_hand(
                    r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                    &data[..12],
                ),
                "the data of tensor `b` starts at byte 4, but the tensors before it end at byte 8",
            ),
            (
                file_by_hand(r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#, &data),
                "the data of tensor `w` starts at byte 8, but the first must start at byte 0",
            ),
            (
                file_by_hand(r#"{"w":{"dtype":"F32","shape":[4]}}"#, &data),
                "tensor `w` has no `data_offsets` in the header",
            ),
            (file_by_hand("[1, 2]", &[]), "its header is not a JSON object (it starts with \"[1, 2]\")"),
            (file_by_hand("{\"w\": ", &[]), "its header is not valid JSON: "),
            (
                b"\x93NUMPY\x01\x00v\x00{'descr': '<f4'}".to_vec(),
                "this is a .npy file; parameters are one .safetensors file",
            ),
            (
                b"garbage, not a tensor file at all".to_vec(),
                "its first 8 bytes give a header of 3199076778277757287 bytes, more than the 16777216 bytes (16 MiB) rnnc reads and than the whole file (33 bytes)",
            ),
            (
                vec![200, 0, 0, 0, 0, 0, 0, 0, b'{'],
                "the file is truncated: its first 8 bytes give a header of 200 bytes, but only 1 bytes follow",
            ),
        ];
        for (bytes, expected) in cases {
            let error = decode_safetensors(&bytes).expect_err(expected).to_string();
            assert!(error.starts_with("not a valid .safetensors file: "), "{error}");
            assert!(error.contains(expected), "expected `{expected}` in `{error}`");
        }
        // An empty set of tensors and `__metadata__` are valid.
        assert!(decode_safetensors(&file_by_hand("{}", &[])).expect("empty").is_empty());
        let with_metadata = file_by_hand(
            r#"{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}  "#,
            &1.5f32.to_le_bytes(),
        );
        assert_eq!(decode_safetensors(&with_metadata).expect("valid")["w"], Tensor::vector(vec![1.5]));
    }

    #[cfg(unix)]
    #[test]
    fn an_endless_device_is_read_only_as_far_as_its_header() {
        let error = read_safetensors(Path::new("/dev/zero")).expect_err("no tensors there").to_string();
        assert!(error.contains("its header is empty (its first 8 bytes give a length of 0)"), "{error}");
        let error = read_safetensors(Path::new("/dev/null")).expect_err("empty").to_string();
        assert!(error.contains("the file is truncated: it has 0 bytes"), "{error}");
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
