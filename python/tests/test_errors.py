"""Errors are exceptions that say what is wrong and where: compile errors carry
the rendered diagnostic with FILE:LINE:COL, data errors name the tensor, bad
arguments are ValueErrors; nothing crashes the interpreter."""

import re

import numpy as np
import pytest

import rnnc
from conftest import random_data

DIMS = {"H": 4, "D": 3}


def test_a_syntax_error_shows_line_and_column_of_a_string():
    source = "cell c {\n    dim H;\n    input x: [H];\n    state h: [H];\n    h' = tanh(h +);\n    output h;\n}\n"
    with pytest.raises(rnnc.CompileError) as caught:
        rnnc.compile(source, backend="cpu")
    message = str(caught.value)
    assert re.search(r"<string>:5:\d+", message), message
    assert "h' = tanh(h +);" in message  # the line is shown


def test_a_shape_error_in_a_file_names_the_file_line_and_column(tmp_path):
    path = tmp_path / "bad.rnn"
    path.write_text(
        "cell bad {\n  dim H;\n  dim D;\n  input x: [D];\n  state h: [H];\n  param W: [H, D];\n"
        "  h' = tanh(W @ h);\n  output h;\n}\n"
    )
    with pytest.raises(rnnc.CompileError) as caught:
        rnnc.compile(path, backend="cpu")
    message = str(caught.value)
    assert f"{path}:7:" in message and "shape mismatch" in message, message


def test_every_error_of_a_source_is_reported():
    with pytest.raises(rnnc.CompileError) as caught:
        rnnc.compile("cell c { dim H; input x: [H]; state h: [H]; h' = q + r; output h; }", backend="cpu")
    assert "unknown name `q`" in str(caught.value) and "unknown name `r`" in str(caught.value)


def test_sources_that_cannot_be_found():
    with pytest.raises(rnnc.CompileError, match="no shipped cell is called `nope`"):
        rnnc.stdlib("nope", backend="cpu")
    with pytest.raises(OSError, match="missing.rnn"):
        rnnc.compile("missing.rnn", backend="cpu")
    with pytest.raises(rnnc.CompileError, match="no cell `other`"):
        rnnc.compile("stdlib:para_gru", cell="other", backend="cpu")


def test_a_wrong_shape_names_the_tensor_and_both_shapes(para_gru):
    params, inputs, _ = random_data(para_gru, DIMS, batch=2, steps=5)
    params["Bz"] = params["Bz"][:, :2].copy()
    with pytest.raises(rnnc.DataError, match=r"`Bz`") as caught:
        para_gru.forward(params, inputs)
    assert "[4, 2]" in str(caught.value), str(caught.value)


def test_a_wrong_input_or_initial_state_is_named(para_gru):
    params, inputs, _ = random_data(para_gru, DIMS, batch=2, steps=5)
    with pytest.raises(rnnc.DataError, match=r"input `x` has shape \[2, 5\]"):
        para_gru.forward(params, {"x": inputs["x"][:, :, 0].copy()})
    with pytest.raises(rnnc.DataError, match="`h`"):
        para_gru.forward(params, inputs, {"h": np.zeros((3, 4), np.float32)})
    with pytest.raises(rnnc.DataError, match="`y`"):
        para_gru.forward(params, {**inputs, "y": inputs["x"]})


def test_missing_parameters_and_cotangents_are_named(para_gru):
    params, inputs, _ = random_data(para_gru, DIMS, batch=2, steps=5)
    del params["ah"]
    with pytest.raises(rnnc.DataError, match="parameter `ah` is missing"):
        para_gru.forward(params, inputs)
    params, inputs, _ = random_data(para_gru, DIMS, batch=2, steps=5)
    with pytest.raises(rnnc.DataError, match="`h`"):
        para_gru.backward(params, inputs, {"h": np.zeros((2, 5, 3), np.float32)})


def test_wrong_dtypes_and_types_are_named(para_gru):
    params, inputs, _ = random_data(para_gru, DIMS, batch=2, steps=5)
    with pytest.raises(rnnc.DataError, match="input `x` must be a float32 numpy array, not a float64 array"):
        para_gru.forward(params, {"x": inputs["x"].astype(np.float64)})
    with pytest.raises(rnnc.DataError, match="parameter `az` must be a float32 numpy array, not a list"):
        para_gru.forward({**params, "az": [0.0] * 4}, inputs)
    with pytest.raises(rnnc.DataError, match="keyed by name"):
        para_gru.forward({**params, 3: params["az"]}, inputs)


def test_non_finite_parameters_are_refused_by_name(para_gru):
    params, inputs, _ = random_data(para_gru, DIMS, batch=2, steps=5)
    params["br"][1] = np.nan
    with pytest.raises(rnnc.DataError, match="`br`"):
        para_gru.forward(params, inputs)


def test_bad_arguments_are_value_errors(para_gru):
    params, inputs, _ = random_data(para_gru, DIMS, batch=2, steps=5)
    with pytest.raises(ValueError, match="method must be"):
        para_gru.forward(params, inputs, method="fast")
    with pytest.raises(ValueError, match="atol"):
        para_gru.forward(params, inputs, atol=-1.0)
    with pytest.raises(ValueError, match="backend must be"):
        rnnc.stdlib("para_gru", backend="tpu")
    with pytest.raises(rnnc.DataError, match="no dim `Q`"):
        para_gru.param_shapes({"H": 4, "D": 3, "Q": 1})
    with pytest.raises(rnnc.DataError, match="D"):
        para_gru.param_shapes({"H": 4})


def test_exceptions_form_one_family():
    for kind in [rnnc.CompileError, rnnc.DataError, rnnc.DeviceError]:
        assert issubclass(kind, rnnc.Error) and issubclass(kind, Exception)


def test_a_cell_the_gpu_cannot_run_is_located_or_runs_on_the_cpu():
    # A dense GRU of 72 channels: one lane wider than a GPU thread holds.
    dims = {"H": 72, "D": 4}
    gpu = rnnc.stdlib("gru", backend="gpu")
    params, inputs, _ = random_data(gpu, dims, batch=1, steps=3)
    with pytest.raises(rnnc.CompileError) as caught:
        gpu.forward(params, inputs)
    message = str(caught.value)
    assert re.search(r"stdlib:gru:\d+:\d+", message), message
    assert "this product couples every channel of the state" in message, message
    auto = rnnc.stdlib("gru")
    outputs, report = auto.forward(params, inputs)
    assert report["backend"] == "cpu", report
    assert "ran on the CPU instead" in report["backend_reason"], report
    want, _ = rnnc.stdlib("gru", backend="cpu").forward(params, inputs)
    np.testing.assert_array_equal(outputs["h"], want["h"])
