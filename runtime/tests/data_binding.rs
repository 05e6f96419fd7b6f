//! Binding data to cells: the happy path for stdlib cells with random data, and every
//! way data can fail to fit, each checked by the message it gives (the tensor's name,
//! the expected and the actual shape).

use std::collections::BTreeMap;
use std::path::Path;

use rnnc_compiler::Cell;
use rnnc_runtime::data::random::{random_inputs, random_params};
use rnnc_runtime::data::{
    BoundData, DataError, OutputFormat, Tensor, read_npy, read_safetensors, write_outputs, write_safetensors,
};

fn stdlib_cell(name: &str) -> Cell {
    let source = rnnc_stdlib::get(name).expect("a stdlib cell").source;
    rnnc_compiler::check_source(source).expect("stdlib cells check").remove(0)
}

fn custom_cell(source: &str) -> Cell {
    rnnc_compiler::check_source(source).expect("a valid cell").remove(0)
}

/// Everything one run of a cell needs, random, before binding.
struct RunData {
    cell: Cell,
    params: BTreeMap<String, Tensor>,
    inputs: Vec<(String, Tensor)>,
    inits: Vec<(String, Tensor)>,
}

impl RunData {
    /// Random data for `cell` with every dim of size `dims(name)`, batch 2 and 7 steps.
    fn random(cell: Cell, dims: &[(&str, u64)]) -> RunData {
        let sizes = cell.bind_dims(|name| dims.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)).expect("dims fit");
        let params = random_params(&cell, &sizes, 1).expect("small");
        let inputs = random_inputs(&cell, &sizes, 2, 7, 2).expect("small");
        RunData { cell, params, inputs, inits: Vec::new() }
    }

    fn stdlib(name: &str) -> RunData {
        RunData::random(stdlib_cell(name), &[("H", 8), ("D", 5)])
    }

    fn bind(self) -> Result<BoundData, DataError> {
        BoundData::bind(&self.cell, self.params, self.inputs, self.inits)
    }

    fn error(self) -> String {
        self.bind().expect_err("the data does not fit").to_string()
    }

    fn param(&mut self, name: &str, tensor: Tensor) -> &mut Self {
        self.params.insert(name.to_owned(), tensor);
        self
    }
}

fn zeros(shape: &[usize]) -> Tensor {
    Tensor::zeros(shape.to_vec()).expect("small")
}

#[test]
fn stdlib_cells_bind_random_data() {
    for name in ["para_gru", "para_lstm", "block_elman"] {
        let data = RunData::stdlib(name);
        let cell = data.cell.clone();
        let params = data.params.clone();
        let x = data.inputs[0].1.clone();
        let bound = data.bind().unwrap_or_else(|e| panic!("{name}: {e}"));
        let dim = |dim: &str| bound.dims().dim(cell.find_dim(dim).expect("declared"));
        assert_eq!((dim("H"), dim("D"), bound.batch(), bound.seq_len()), (8, 5, 2, 7), "{name}");
        // Parameters in declaration order, as given.
        assert_eq!(bound.params().len(), cell.params.len());
        for ((handle, param), tensor) in cell.params.iter().zip(bound.params()) {
            assert_eq!(tensor, &params[&param.name], "{name}: {}", param.name);
            assert_eq!(bound.param(handle), Some(tensor));
        }
        assert_eq!(bound.inputs(), &[x]);
        // States without an initial value start at zero, [B, H].
        assert_eq!(bound.inits().len(), cell.states.len());
        for tensor in bound.inits() {
            assert_eq!(tensor, &zeros(&[2, 8]), "{name}");
        }
    }
    assert_eq!(RunData::stdlib("block_elman").params["U"].shape(), &[2, 4, 4]);
}

#[test]
fn initial_states_are_placed_by_name() {
    let mut data = RunData::stdlib("para_lstm");
    let h0 = Tensor::filled(vec![2, 8], 0.25).expect("small");
    data.inits.push(("h".to_owned(), h0.clone()));
    let cell = data.cell.clone();
    let bound = data.bind().expect("fits");
    assert_eq!(bound.init(cell.find_state("c").expect("c")), Some(&zeros(&[2, 8])));
    assert_eq!(bound.init(cell.find_state("h").expect("h")), Some(&h0));
}

#[test]
fn a_wrong_shape_names_the_tensor_and_both_shapes() {
    let mut data = RunData::stdlib("para_gru");
    data.param("Br", zeros(&[8, 4]));
    assert_eq!(data.error(), "parameter `Br` has shape [8, 4], expected [8, 5] = [H, D] (D = 5 from parameter `Bz`)");

    let mut data = RunData::stdlib("para_gru");
    data.param("az", zeros(&[8, 1]));
    assert_eq!(data.error(), "parameter `az` has shape [8, 1], expected [8] = [H] (2 axes instead of 1)");

    // Nothing known yet: the expected shape is symbolic.
    let mut data = RunData::stdlib("para_gru");
    data.param("Bz", zeros(&[8]));
    assert_eq!(data.error(), "parameter `Bz` has shape [8], expected [H, D] (1 axis instead of 2)");
}

#[test]
fn large_sizes_read_as_in_the_design_example() {
    let mut data = RunData::stdlib("para_gru");
    data.param("Bz", zeros(&[1024, 512])).param("Br", zeros(&[1024, 256]));
    assert_eq!(
        data.error(),
        "parameter `az` has shape [8], expected [1024] = [H] (H = 1024 from parameter `Bz`)",
        "az comes before Br in declaration order"
    );
    let mut data = RunData::stdlib("para_gru");
    for name in ["az", "bz"] {
        data.param(name, zeros(&[1024]));
    }
    data.param("Bz", zeros(&[1024, 512])).param("Br", zeros(&[1024, 256]));
    assert_eq!(
        data.error(),
        "parameter `Br` has shape [1024, 256], expected [1024, 512] = [H, D] (D = 512 from parameter `Bz`)"
    );
}

#[test]
fn missing_and_extra_parameters_are_named() {
    let mut data = RunData::stdlib("para_gru");
    data.params.remove("bh");
    assert_eq!(data.error(), "parameter `bh` is missing: cell `para_gru` declares it as [H]");

    let mut data = RunData::stdlib("block_elman");
    data.params.remove("U");
    assert_eq!(data.error(), "parameter `U` is missing: cell `block_elman` declares it as block[H, 4]");

    let mut data = RunData::stdlib("para_gru");
    data.param("Bq", zeros(&[3]));
    assert_eq!(
        data.error(),
        "parameter `Bq` (shape [3]) is not declared by cell `para_gru`; its parameters are \
         `Bz`, `az`, `bz`, `Br`, `ar`, `br`, `Bh`, `ah`, `bh`"
    );
}

#[test]
fn unknown_missing_and_repeated_inputs_are_named() {
    let mut data = RunData::stdlib("para_gru");
    data.inputs.push(("y".to_owned(), zeros(&[2, 7, 5])));
    assert_eq!(data.error(), "input `y` (shape [2, 7, 5]) is not declared by cell `para_gru`; its inputs are `x`");

    let mut data = RunData::stdlib("para_gru");
    data.inputs.clear();
    assert_eq!(data.error(), "input `x` is missing: cell `para_gru` declares it as [D], given as [B, T, D]");

    let mut data = RunData::stdlib("para_gru");
    data.inputs.push(("x".to_owned(), zeros(&[2, 7, 5])));
    assert_eq!(data.error(), "input `x` is given more than once");
}

const TWO_INPUTS: &str = "cell two_inputs { dim H; dim D; input x: [D]; input y: [H]; state h: [H]; \
    param W: [H, D]; h' = tanh(W @ x + y + h); output h; }";

#[test]
fn inputs_share_batch_and_sequence_length() {
    let mut data = RunData::random(custom_cell(TWO_INPUTS), &[("H", 3), ("D", 4)]);
    data.inputs[1].1 = zeros(&[5, 7, 3]);
    assert_eq!(data.error(), "input `y` has shape [5, 7, 3], expected [2, 7, 3] = [B, T, H] (B = 2 from input `x`)");

    let mut data = RunData::random(custom_cell(TWO_INPUTS), &[("H", 3), ("D", 4)]);
    data.inputs[1].1 = zeros(&[2, 6, 3]);
    assert_eq!(data.error(), "input `y` has shape [2, 6, 3], expected [2, 7, 3] = [B, T, H] (T = 7 from input `x`)");

    let mut data = RunData::random(custom_cell(TWO_INPUTS), &[("H", 3), ("D", 4)]);
    data.inputs[0].1 = zeros(&[2, 7]);
    assert_eq!(data.error(), "input `x` has shape [2, 7], expected [B, T, 4] = [B, T, D] (2 axes instead of 3)");
}

#[test]
fn batch_and_sequence_length_must_be_positive() {
    let mut data = RunData::stdlib("para_gru");
    data.inputs[0].1 = zeros(&[0, 7, 5]);
    assert_eq!(data.error(), "input `x` has shape [0, 7, 5], which makes B = 0; every size must be at least 1");

    let mut data = RunData::stdlib("para_gru");
    data.inputs[0].1 = zeros(&[2, 0, 5]);
    assert_eq!(data.error(), "input `x` has shape [2, 0, 5], which makes T = 0; every size must be at least 1");

    let mut data = RunData::stdlib("para_gru");
    data.param("Bz", zeros(&[0, 5]));
    assert_eq!(data.error(), "parameter `Bz` has shape [0, 5], which makes H = 0; every size must be at least 1");
}

#[test]
fn initial_states_are_b_by_h_and_only_for_states() {
    let mut data = RunData::stdlib("para_gru");
    data.inits.push(("h".to_owned(), zeros(&[3, 8])));
    assert_eq!(data.error(), "initial state `h` has shape [3, 8], expected [2, 8] = [B, H] (B = 2 from input `x`)");

    let mut data = RunData::stdlib("para_gru");
    data.inits.push(("h".to_owned(), zeros(&[2, 9])));
    assert_eq!(
        data.error(),
        "initial state `h` has shape [2, 9], expected [2, 8] = [B, H] (H = 8 from parameter `Bz`)"
    );

    let mut data = RunData::stdlib("para_gru");
    data.inits.push(("x".to_owned(), zeros(&[2, 8])));
    assert_eq!(data.error(), "initial state `x` (shape [2, 8]) is not declared by cell `para_gru`; its states are `h`");

    let mut data = RunData::stdlib("para_lstm");
    data.inits.push(("c".to_owned(), zeros(&[2, 8])));
    data.inits.push(("c".to_owned(), zeros(&[2, 8])));
    assert_eq!(data.error(), "initial state `c` is given more than once");
}

#[test]
fn a_dim_conflict_across_tensors_names_where_the_size_came_from() {
    let mut data = RunData::stdlib("para_gru");
    data.inputs[0].1 = zeros(&[2, 7, 6]);
    assert_eq!(
        data.error(),
        "input `x` has shape [2, 7, 6], expected [2, 7, 5] = [B, T, D] (D = 5 from parameter `Bz`)"
    );

    let mut data = RunData::stdlib("para_lstm");
    data.param("po", zeros(&[16]));
    assert_eq!(data.error(), "parameter `po` has shape [16], expected [8] = [H] (H = 8 from parameter `Bf`)");

    // Within one tensor: the rows of a square matrix fix H for its columns.
    let square = "cell square { dim H; input x: [H]; state h: [H]; param U: [H, H]; h' = tanh(U @ h + x); output h; }";
    let mut data = RunData::random(custom_cell(square), &[("H", 3)]);
    data.param("U", zeros(&[3, 4]));
    assert_eq!(data.error(), "parameter `U` has shape [3, 4], expected [3, 3] = [H, H] (H = 3 from parameter `U`)");
}

#[test]
fn block_parameters_are_stored_as_blocks() {
    let mut data = RunData::stdlib("block_elman");
    data.param("U", zeros(&[8, 8]));
    assert_eq!(
        data.error(),
        "parameter `U` has shape [8, 8], expected [2, 4, 4] = [H/4, 4, 4] \
         (2 axes instead of 3; block[H, 4] is stored as [H/4, 4, 4])"
    );

    let mut data = RunData::stdlib("block_elman");
    data.param("U", zeros(&[2, 3, 3]));
    assert_eq!(
        data.error(),
        "parameter `U` has shape [2, 3, 3], expected [2, 4, 4] = [H/4, 4, 4] (block[H, 4] is stored as [H/4, 4, 4])"
    );

    let mut data = RunData::stdlib("block_elman");
    data.param("U", zeros(&[3, 4, 4]));
    assert_eq!(
        data.error(),
        "parameter `U` has shape [3, 4, 4], expected [2, 4, 4] = [H/4, 4, 4] (H = 8 from parameter `W`, so H/4 = 2)"
    );

    // A block parameter declared first fixes H as blocks x K.
    let first = "cell first { dim H; input x: [H]; state h: [H]; param U: block[H, 2]; param b: [H]; \
                 h' = tanh(U @ h + x + b); output h; }";
    let mut data = RunData::random(custom_cell(first), &[("H", 6)]);
    data.param("b", zeros(&[8]));
    assert_eq!(data.error(), "parameter `b` has shape [8], expected [6] = [H] (H = 6 from parameter `U`)");
}

#[test]
fn a_block_size_must_divide_its_dim() {
    let mut data = RunData::stdlib("block_elman");
    data.param("W", zeros(&[6, 5])).param("b", zeros(&[6]));
    assert_eq!(
        data.error(),
        "parameter `U` is declared block[H, 4], which needs H to be a multiple of 4, but H = 6 (from parameter `W`)"
    );
}

#[test]
fn fixed_sizes_must_match_exactly() {
    let fixed = "cell fixed { dim D; input x: [D]; state h: [4]; param W: [4, D]; param v: [4]; \
                 h' = tanh(W @ x + v * h); output h; }";
    let mut data = RunData::random(custom_cell(fixed), &[("D", 3)]);
    data.param("v", zeros(&[3]));
    assert_eq!(data.error(), "parameter `v` has shape [3], expected [4] (the cell fixes this size to 4)");
}

#[test]
fn a_dim_no_tensor_mentions_is_reported() {
    let hidden = "cell hidden { dim H; dim D; input x: [D]; state h: [H]; param w: [D]; \
                  h' = tanh(h) + 0 * h; output y = w * x; }";
    let data = RunData::random(custom_cell(hidden), &[("H", 3), ("D", 2)]);
    assert_eq!(data.error(), "no tensor gives the size of dim `H` of cell `hidden`");
    let mut data = RunData::random(custom_cell(hidden), &[("H", 3), ("D", 2)]);
    data.inits.push(("h".to_owned(), zeros(&[2, 3])));
    let bound = data.bind().expect("the initial state gives H");
    assert_eq!(bound.inits()[0].shape(), &[2, 3]);
}

#[test]
fn non_finite_values_are_refused_with_their_index() {
    let mut data = RunData::stdlib("para_gru");
    data.inputs[0].1.data_mut()[52] = f32::NAN;
    assert_eq!(data.error(), "input `x` holds NaN at index [1, 3, 2] (flat index 52); values must be finite");

    let mut data = RunData::stdlib("para_gru");
    data.params.get_mut("Bh").expect("Bh").data_mut()[11] = f32::NEG_INFINITY;
    assert_eq!(data.error(), "parameter `Bh` holds -inf at index [2, 1] (flat index 11); values must be finite");

    let mut data = RunData::stdlib("para_gru");
    let mut h0 = zeros(&[2, 8]);
    h0.data_mut()[15] = f32::INFINITY;
    data.inits.push(("h".to_owned(), h0));
    assert_eq!(data.error(), "initial state `h` holds inf at index [1, 7] (flat index 15); values must be finite");
}

/// The bytes numpy writes for `np.save(f, np.arange(2, dtype=DESCR))` with 8-byte
/// values, as rnnc must refuse them.
fn npy_with_descr(descr: &str) -> Vec<u8> {
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (2,), }}");
    let mut bytes = b"\x93NUMPY\x01\x00\x76\x00".to_vec();
    bytes.extend_from_slice(dict.as_bytes());
    bytes.resize(127, b' ');
    bytes.push(b'\n');
    bytes.extend_from_slice(&[0; 16]);
    bytes
}

#[test]
fn non_float32_files_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (descr, meaning) in [("<f8", "float64"), ("<i8", "int64")] {
        let path = dir.path().join(format!("x_{}.npy", &descr[1..]));
        std::fs::write(&path, npy_with_descr(descr)).expect("writable");
        let error = read_npy(&path).expect_err("not float32").to_string();
        assert_eq!(
            error,
            format!(
                "{}: the array has dtype '{descr}' ({meaning}), but rnnc reads only little-endian float32 ('<f4'); \
                 convert it with `a.astype('<f4')`",
                path.display()
            )
        );
    }
    let header = r#"{"Bz":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0; 4]);
    let path = dir.path().join("params.safetensors");
    std::fs::write(&path, bytes).expect("writable");
    assert_eq!(
        read_safetensors(&path).expect_err("F16").to_string(),
        format!("{}: tensor `Bz` (shape [2]) has dtype F16, but rnnc reads only float32 (F32) tensors", path.display())
    );
}

#[test]
fn parameters_round_trip_through_a_file_and_bind() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = RunData::stdlib("para_lstm");
    let path = dir.path().join("params.safetensors");
    write_safetensors(&path, data.params.iter().map(|(k, v)| (k.as_str(), v))).expect("writable");
    let params = read_safetensors(&path).expect("readable");
    assert_eq!(params, data.params);
    BoundData::bind(&data.cell, params, data.inputs, data.inits).expect("fits");
}

const TWO_OUTPUTS: &str = "cell two_outputs { dim H; input x: [H]; state c: [H]; state h: [H]; \
    c' = c + x; h' = tanh(c'); output c; output h; }";

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("readable")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn outputs_go_to_npy_or_safetensors_by_extension() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = RunData::stdlib("para_gru");
    let cell = data.cell.clone();
    let bound = data.bind().expect("fits");
    let values: Vec<f32> = (0..2 * 7 * 8).map(|i| i as f32 / 100.0).collect();
    let outputs = bound.output_tensors(&cell, vec![values.clone()]).expect("one buffer of B*T*H");
    assert_eq!(outputs[0].0, "h");
    assert_eq!(outputs[0].1.shape(), &[2, 7, 8]);
    let npy = dir.path().join("h.npy");
    write_outputs(&npy, &cell, &outputs).expect("writable");
    assert_eq!(read_npy(&npy).expect("readable").into_data(), values);

    let error = bound.output_tensors(&cell, vec![values[1..].to_vec()]).expect_err("short buffer");
    assert_eq!(error.to_string(), "output `h` needs 112 values for shape [2, 7, 8], but its buffer holds 111");

    let bad = dir.path().join("h.txt");
    assert_eq!(
        write_outputs(&bad, &cell, &outputs).expect_err("bad extension").to_string(),
        format!(
            "{}: the output file must end in .npy (one output) or .safetensors (every output by name)",
            bad.display()
        )
    );
    assert_eq!(file_names(dir.path()), vec!["h.npy"]);
}

#[test]
fn more_than_one_output_needs_safetensors() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let data = RunData::random(custom_cell(TWO_OUTPUTS), &[("H", 3)]);
    let cell = data.cell.clone();
    let bound = data.bind().expect("fits");
    let outputs = bound.output_tensors(&cell, vec![vec![1.0; 42], vec![2.0; 42]]).expect("two buffers");
    let npy = dir.path().join("out.npy");
    let expected = format!(
        "{}: a .npy file holds one output, but cell `two_outputs` has 2 (`c`, `h`); \
         write a .safetensors file to get every output by name",
        npy.display()
    );
    assert_eq!(OutputFormat::for_path(&npy, &cell).expect_err("two outputs").to_string(), expected);
    assert_eq!(write_outputs(&npy, &cell, &outputs).expect_err("two outputs").to_string(), expected);
    assert!(file_names(dir.path()).is_empty(), "nothing is written on failure");

    let st = dir.path().join("out.safetensors");
    write_outputs(&st, &cell, &outputs).expect("writable");
    let back = read_safetensors(&st).expect("readable");
    assert_eq!(back.keys().collect::<Vec<_>>(), ["c", "h"]);
    assert_eq!(back["c"].shape(), &[2, 7, 3]);
    assert_eq!(back["h"].data(), &[2.0; 42][..]);
}
