//! Tests of `.npy` decoding and encoding against bytes as numpy writes them.

use super::*;

/// The bytes numpy 2.x writes for `np.save(f, a)`: the preamble for `version` with
/// header length `header_len`, the dict, spaces, a newline, then `values` little-endian.
fn numpy_file(version: u8, dict: &str, header_len: usize, values: &[f32]) -> Vec<u8> {
    let mut bytes = b"\x93NUMPY".to_vec();
    bytes.extend_from_slice(&[version, 0]);
    if version == 1 {
        bytes.extend_from_slice(&(header_len as u16).to_le_bytes());
    } else {
        bytes.extend_from_slice(&(header_len as u32).to_le_bytes());
    }
    bytes.extend_from_slice(dict.as_bytes());
    bytes.extend(std::iter::repeat_n(b' ', header_len - dict.len() - 1));
    bytes.push(b'\n');
    for value in values {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    bytes
}

fn f32_header(shape: &str) -> String {
    format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}")
}

#[test]
fn encodes_exactly_what_numpy_writes() {
    // np.save of np.arange(6, dtype='<f4').reshape(2, 3): 152 bytes, header length 118 (0x76).
    let values = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
    let expected = numpy_file(1, &f32_header("(2, 3)"), 118, &values);
    assert_eq!(expected.len(), 152);
    assert_eq!(&expected[..10], b"\x93NUMPY\x01\x00v\x00");
    let tensor = Tensor::new(vec![2, 3], values.to_vec()).expect("six values");
    assert_eq!(encode_npy(&tensor), expected);
    // Scalars, vectors and empty arrays, with numpy's header lengths.
    for (shape, text, header_len) in
        [(vec![], "()", 118), (vec![1], "(1,)", 118), (vec![2, 0], "(2, 0)", 118), (vec![3, 4, 5], "(3, 4, 5)", 118)]
    {
        let tensor = Tensor::zeros(shape.clone()).expect("small");
        let bytes = encode_npy(&tensor);
        assert_eq!(bytes, numpy_file(1, &f32_header(text), header_len, tensor.data()), "{shape:?}");
        assert_eq!((10 + header_len) % 64, 0);
    }
}

#[test]
fn headers_too_long_for_version_1_use_version_2() {
    // 22,000 axes of size 1: the shape's text alone is 66,000 bytes.
    let tensor = Tensor::filled(vec![1; 22_000], 3.5).expect("one value");
    let bytes = encode_npy(&tensor);
    assert_eq!(&bytes[..8], b"\x93NUMPY\x02\x00");
    let header_len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    assert_eq!((12 + header_len) % 64, 0);
    assert_eq!(bytes.len(), 12 + header_len + 4);
    assert_eq!(decode_npy(&bytes).expect("round trip"), tensor);
}

#[test]
fn decodes_versions_1_2_and_3() {
    let v1 = numpy_file(1, &f32_header("(2,)"), 118, &[1.0, 2.0]);
    // np.lib.format.write_array(f, a, version=(2, 0)) and (3, 0): header length 116 (0x74).
    let v2 = numpy_file(2, &f32_header("(2,)"), 116, &[1.0, 2.0]);
    let v3 = numpy_file(3, &f32_header("(2,)"), 116, &[1.0, 2.0]);
    assert_eq!(&v2[..12], b"\x93NUMPY\x02\x00t\x00\x00\x00");
    for bytes in [v1, v2, v3] {
        let tensor = decode_npy(&bytes).expect("a float32 vector");
        assert_eq!((tensor.shape(), tensor.data()), (&[2][..], &[1.0, 2.0][..]));
    }
    // Version 3.0 headers are UTF-8; a Python 2 long integer in the shape is accepted.
    let v3 = numpy_file(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (1L,), 'é': 1}", 128, &[4.0]);
    assert!(decode_npy(&v3).expect_err("unknown key").to_string().contains("unexpected key 'é'"));
    let scalar = numpy_file(1, &f32_header("()"), 118, &[2.5]);
    assert_eq!(decode_npy(&scalar).expect("a scalar").data(), &[2.5]);
}

#[test]
fn round_trips() {
    let values: Vec<f32> = (0..24).map(|i| (i as f32 - 7.5) * 0.37).collect();
    for shape in [vec![24], vec![2, 3, 4], vec![1, 24, 1], vec![4, 6]] {
        let tensor = Tensor::new(shape, values.clone()).expect("24 values");
        assert_eq!(decode_npy(&encode_npy(&tensor)).expect("round trip"), tensor);
    }
    let special = Tensor::vector(vec![f32::MIN_POSITIVE, -0.0, f32::MAX, 1e-45]);
    let back = decode_npy(&encode_npy(&special)).expect("round trip");
    let bits = |t: &Tensor| t.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&back), bits(&special));
}

fn error_of(bytes: &[u8]) -> String {
    decode_npy(bytes).expect_err("must be refused").to_string()
}

#[test]
fn refuses_other_dtypes_naming_them() {
    let header = |descr: &str| format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (2,), }}");
    for (descr, meaning) in [
        ("<f8", "float64"),
        ("<i4", "int32"),
        (">f4", "big-endian float32"),
        ("<f2", "float16"),
        ("|u1", "uint8"),
        ("|b1", "bool"),
        ("<U3", "unicode string"),
    ] {
        let bytes = numpy_file(1, &header(descr), 118, &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(
            error_of(&bytes),
            format!(
                "the array has dtype '{descr}' ({meaning}), but rnnc reads only little-endian float32 ('<f4'); \
                 convert it with `a.astype('<f4')`"
            )
        );
    }
    let structured = "{'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': False, 'shape': (1,), }";
    assert!(
        error_of(&numpy_file(1, structured, 118, &[1.0, 2.0]))
            .contains("[('a', '<f4'), ('b', '<f4')] (a structured dtype)")
    );
}

#[test]
fn refuses_fortran_order() {
    // np.save(f, np.asfortranarray(np.ones((2, 2), dtype='<f4')))
    let dict = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }";
    let error = error_of(&numpy_file(1, dict, 118, &[1.0; 4]));
    assert!(error.contains("Fortran order ('fortran_order': True), but rnnc reads only C order"), "{error}");
}

#[test]
fn refuses_truncated_and_oversized_data() {
    let mut bytes = numpy_file(1, &f32_header("(2, 3)"), 118, &[0.0; 6]);
    bytes.truncate(bytes.len() - 4);
    assert_eq!(
        error_of(&bytes),
        "the header declares shape [2, 3] (6 float32 values, 24 bytes), but 20 bytes of data follow (the file is truncated)"
    );
    bytes.extend_from_slice(&[0; 8]);
    assert_eq!(
        error_of(&bytes),
        "the header declares shape [2, 3] (6 float32 values, 24 bytes), but 28 bytes of data follow"
    );
    let huge = numpy_file(1, &f32_header("(4611686018427387904, 4)"), 118, &[]);
    assert!(error_of(&huge).contains("shape [4611686018427387904, 4] is too large"), "{}", error_of(&huge));
    let full = numpy_file(1, &f32_header("(2,)"), 118, &[1.0, 2.0]);
    for cut in [0, 3, 7, 9, 50] {
        let error = error_of(&full[..cut]);
        assert!(error.contains("truncated") || error.contains("not a .npy file"), "cut at {cut}: {error}");
    }
    assert_eq!(error_of(&full[..50]), "the file is truncated: its header needs 128 bytes, but the file has 50");
}

#[test]
fn refuses_bad_magic_versions_and_headers() {
    assert_eq!(
        error_of(b"PK\x03\x04 this is a zip"),
        "not a .npy file: it starts with \"PK\\x03\\x04 t\" instead of the magic \\x93NUMPY"
    );
    let mut bytes = numpy_file(1, &f32_header("(2,)"), 118, &[1.0, 2.0]);
    bytes[6] = 4;
    assert_eq!(error_of(&bytes), ".npy format version 4.0 is not supported (rnnc reads versions 1.0, 2.0 and 3.0)");
    let bad = numpy_file(1, "{'descr': '<f4', 'fortran_order': False, 'shape': [2], }", 118, &[1.0, 2.0]);
    assert_eq!(
        error_of(&bad),
        "malformed header: 'shape' must be a tuple of integers, found [2] \
         (header: {'descr': '<f4', 'fortran_order': False, 'shape': [2], })"
    );
    let mut not_utf8 = numpy_file(3, &f32_header("(1,)"), 118, &[1.0]);
    not_utf8[20] = 0xff;
    assert_eq!(error_of(&not_utf8), "the header is not valid UTF-8 text");
}

#[test]
fn files_name_the_path() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("x.npy");
    let tensor = Tensor::new(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]).expect("four values");
    write_npy(&path, &tensor).expect("writable");
    assert_eq!(read_npy(&path).expect("readable"), tensor);
    std::fs::write(&path, numpy_file(1, &f32_header("(2,)").replace("<f4", "<f8"), 118, &[0.0; 4])).expect("writable");
    let error = read_npy(&path).expect_err("float64").to_string();
    assert!(error.starts_with(&format!("{}: the array has dtype '<f8' (float64)", path.display())), "{error}");
    let missing = dir.path().join("missing.npy");
    let error = read_npy(&missing).expect_err("no such file").to_string();
    assert!(error.starts_with(&format!("cannot read {}: ", missing.display())), "{error}");
}

#[test]
fn corrupted_bytes_never_panic() {
    let bytes = encode_npy(&Tensor::new(vec![2, 3], vec![1.0; 6]).expect("six"));
    for position in 0..bytes.len() {
        for value in [0u8, b'(', b')', b'9', b'\'', 0xff] {
            let mut corrupted = bytes.clone();
            corrupted[position] = value;
            let _ = decode_npy(&corrupted);
        }
    }
    for cut in 0..bytes.len() {
        assert!(decode_npy(&bytes[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn reading_a_file_agrees_with_decoding_its_bytes() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("cut.npy");
    let full = numpy_file(1, &f32_header("(2, 3)"), 118, &[0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
    for cut in (0..=full.len()).chain([full.len() + 3]) {
        let bytes = if cut <= full.len() { full[..cut].to_vec() } else { [&full[..], &[0, 0, 0]].concat() };
        std::fs::write(&path, &bytes).expect("writable");
        let from_file = read_npy(&path).map_err(|e| e.to_string());
        let from_bytes = decode_npy(&bytes).map_err(|e| format!("{}: {e}", path.display()));
        assert_eq!(from_file, from_bytes, "cut at {cut}");
    }
    assert!(read_npy(&path).is_err());
    std::fs::write(&path, &full).expect("writable");
    assert_eq!(read_npy(&path).expect("whole").data(), &[0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
}

#[test]
fn large_arrays_stream_through_files() {
    // More than one 1 MiB read chunk, not a multiple of it.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("large.npy");
    let values: Vec<f32> = (0..300_001).map(|i| i as f32 * 0.5).collect();
    let tensor = Tensor::new(vec![300_001], values).expect("one axis");
    write_npy(&path, &tensor).expect("writable");
    assert_eq!(std::fs::read(&path).expect("readable"), encode_npy(&tensor));
    assert_eq!(read_npy(&path).expect("readable"), tensor);
}
