//! Property tests of the data readers: valid `.npy` and `.safetensors` files of
//! random shapes and values round-trip exactly; mutated and random bytes give a
//! value or an error, never a panic; and the streaming file readers
//! (`read_npy`, `read_safetensors`) agree with the in-memory decoders on every
//! input.
//!
//! CI runs a few hundred cases (a few seconds). A longer run:
//! `RNNC_FUZZ_CASES=20000 cargo test --release --test fuzz_files`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use rnnc::Tensor;
use rnnc::runtime::data::{decode_npy, decode_safetensors, encode_npy, encode_safetensors, read_npy, read_safetensors};

fn cases(default: u32) -> u32 {
    std::env::var("RNNC_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A fresh file path for one case.
fn scratch(extension: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!("rnnc-fuzz-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(format!("{}.{extension}", COUNTER.fetch_add(1, Ordering::Relaxed)))
}

fn tensor() -> impl Strategy<Value = Tensor> {
    proptest::collection::vec(0..5usize, 0..4).prop_flat_map(|shape| {
        let len = shape.iter().product::<usize>();
        proptest::collection::vec(any::<u32>().prop_map(f32::from_bits), len)
            .prop_map(move |values| Tensor::new(shape.clone(), values).expect("the shape's length"))
    })
}

/// Bitwise equality (NaN payloads included).
fn same(a: &Tensor, b: &Tensor) -> bool {
    a.shape() == b.shape() && a.data().iter().map(|v| v.to_bits()).eq(b.data().iter().map(|v| v.to_bits()))
}

#[derive(Clone, Debug)]
enum Mutation {
    Set { at: usize, byte: u8 },
    Truncate { at: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Remove { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), 1..16usize).prop_map(|(at, len)| Mutation::Remove { at, len }),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutations: &[Mutation]) {
    for mutation in mutations {
        let len = bytes.len();
        match mutation {
            Mutation::Set { at, byte } if len > 0 => bytes[at % len] = *byte,
            Mutation::Set { .. } => {}
            Mutation::Truncate { at } => bytes.truncate(at % (len + 1)),
            Mutation::Insert { at, bytes: inserted } => {
                let at = at % (len + 1);
                bytes.splice(at..at, inserted.iter().copied());
            }
            Mutation::Remove { at, len: count } => {
                let at = at % (len + 1);
                bytes.drain(at..(at + count).min(len));
            }
        }
    }
}

/// `read_npy` on a file of `bytes` agrees with `decode_npy(bytes)`.
fn npy_readers_agree(bytes: &[u8]) {
    let decoded = decode_npy(bytes);
    let path = scratch("npy");
    std::fs::write(&path, bytes).expect("writable");
    let read = read_npy(&path);
    let _ = std::fs::remove_file(&path);
    match (&decoded, &read) {
        (Ok(a), Ok(b)) => assert!(same(a, b), "decode and read differ"),
        (Err(_), Err(_)) => {}
        _ => panic!("decode: {decoded:?}\nread: {read:?}"),
    }
    if let Ok(tensor) = decoded {
        assert_eq!(tensor.len(), tensor.shape().iter().product::<usize>());
    }
}

/// `read_safetensors` on a file of `bytes` agrees with `decode_safetensors(bytes)`.
fn safetensors_readers_agree(bytes: &[u8]) {
    let decoded = decode_safetensors(bytes);
    let path = scratch("safetensors");
    std::fs::write(&path, bytes).expect("writable");
    let read = read_safetensors(&path);
    let _ = std::fs::remove_file(&path);
    match (&decoded, &read) {
        (Ok(a), Ok(b)) => {
            assert!(a.len() == b.len() && a.iter().zip(b).all(|((n, x), (m, y))| n == m && same(x, y)));
        }
        (Err(_), Err(_)) => {}
        _ => panic!("decode: {decoded:?}\nread: {read:?}"),
    }
}

fn tensors() -> impl Strategy<Value = BTreeMap<String, Tensor>> {
    proptest::collection::btree_map("[a-zA-Z_.]{1,8}", tensor(), 0..5)
}

/// Header text made of the pieces a safetensors header has, in any order.
fn header_soup() -> impl Strategy<Value = String> {
    const PIECES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"w\"",
        "\"dtype\"",
        "\"F32\"",
        "\"F64\"",
        "\"shape\"",
        "\"data_offsets\"",
        "\"__metadata__\"",
        "0",
        "4",
        "8",
        "16",
        "18446744073709551615",
        "-1",
        "1e3",
        "null",
        " ",
        "\"",
    ];
    proptest::collection::vec(0..PIECES.len(), 0..40).prop_map(|picks| picks.iter().map(|&i| PIECES[i]).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn npy_round_trips_exactly(tensor in tensor()) {
        let bytes = encode_npy(&tensor);
        prop_assert!(same(&decode_npy(&bytes).expect("valid"), &tensor));
        npy_readers_agree(&bytes);
    }

    #[test]
    fn mutated_npy_files_never_crash(tensor in tensor(), mutations in proptest::collection::vec(mutation(), 1..4)) {
        let mut bytes = encode_npy(&tensor);
        mutate(&mut bytes, &mutations);
        npy_readers_agree(&bytes);
    }

    #[test]
    fn random_bytes_as_npy_never_crash(magic in any::<bool>(), bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut file = if magic { b"\x93NUMPY\x01\x00".to_vec() } else { Vec::new() };
        file.extend(bytes);
        npy_readers_agree(&file);
    }

    #[test]
    fn safetensors_round_trip_exactly(tensors in tensors()) {
        let bytes = encode_safetensors(tensors.iter().map(|(n, t)| (n.as_str(), t))).expect("encodable");
        let decoded = decode_safetensors(&bytes).expect("valid");
        prop_assert!(decoded.len() == tensors.len() && decoded.iter().zip(&tensors).all(|((n, x), (m, y))| n == m && same(x, y)));
        safetensors_readers_agree(&bytes);
    }

    #[test]
    fn mutated_safetensors_files_never_crash(tensors in tensors(), mutations in proptest::collection::vec(mutation(), 1..4)) {
        let mut bytes = encode_safetensors(tensors.iter().map(|(n, t)| (n.as_str(), t))).expect("encodable");
        mutate(&mut bytes, &mutations);
        safetensors_readers_agree(&bytes);
    }

    #[test]
    fn random_safetensors_headers_never_crash(header in header_soup(), data in proptest::collection::vec(any::<u8>(), 0..40)) {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend(data);
        safetensors_readers_agree(&bytes);
    }
}

/// The readers of a file that is not there, or is a directory, say so.
#[test]
fn missing_files_and_directories_are_errors() {
    let dir = scratch("dir");
    std::fs::create_dir_all(&dir).expect("creatable");
    for path in [dir.as_path(), Path::new("/no/such/file.npy")] {
        assert!(read_npy(path).is_err());
        assert!(read_safetensors(path).is_err());
    }
}
