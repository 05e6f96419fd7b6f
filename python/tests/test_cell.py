"""rnnc.Cell against float64 references: forward and backward of ParaGRU (diagonal),
Elman (dense) and ParaLSTM (block-diagonal, two states), both methods; the tape;
the report; inspect and param_shapes against the command line."""

import json
import subprocess

import numpy as np
import pytest

import rnnc
from conftest import random_data
from reference import forward64, gradients64

CELLS = ["para_gru", "elman", "para_lstm"]
DIMS = {"H": 6, "D": 4}


@pytest.fixture(scope="module", params=CELLS)
def cell(request):
    return rnnc.stdlib(request.param, backend="cpu")


@pytest.mark.parametrize("method", ["newton", "sequential"])
def test_forward_matches_the_float64_reference(cell, method):
    params, inputs, inits = random_data(cell, DIMS, batch=3, steps=80, seed=1)
    outputs, report = cell.forward(params, inputs, inits, method=method)
    expected = forward64(cell.name, params, inputs["x"], inits)
    assert set(outputs) == set(expected) == set(cell.outputs)
    for name, value in outputs.items():
        assert value.dtype == np.float32 and value.shape == (3, 80, 6)
        np.testing.assert_allclose(value, expected[name], atol=2e-5, rtol=0)
    assert report["method"] == method and report["converged"] is True


@pytest.mark.parametrize("method", ["newton", "sequential"])
def test_backward_matches_float64_autograd(cell, method):
    params, inputs, inits = random_data(cell, DIMS, batch=2, steps=50, seed=2)
    rng = np.random.default_rng(3)
    douts = {name: rng.standard_normal((2, 50, 6)).astype(np.float32) for name in cell.outputs}
    gradients = cell.backward(params, inputs, douts, inits, method=method)
    expected = gradients64(cell.name, params, inputs["x"], inits, douts)
    assert set(gradients) == set(expected)
    for key, value in gradients.items():
        assert value.dtype == np.float32 and value.shape == expected[key].shape, key
        scale = max(1.0, np.abs(expected[key]).max())
        np.testing.assert_allclose(value, expected[key], atol=2e-4 * scale, rtol=0, err_msg=key)


def test_the_tape_gives_the_gradients_of_a_full_backward_once(para_gru):
    params, inputs, inits = random_data(para_gru, DIMS, batch=2, steps=40)
    douts = {"h": np.ones((2, 40, 6), np.float32)}
    outputs, report, tape = para_gru.forward_tape(params, inputs, inits)
    plain, _ = para_gru.forward(params, inputs, inits)
    np.testing.assert_array_equal(outputs["h"], plain["h"])
    assert tape.unused
    gradients, backward_report = tape.backward(douts)
    assert not tape.unused and "backward_ms" in backward_report
    assert "non_finite_gradients" in backward_report
    full = para_gru.backward(params, inputs, douts, inits)
    for key in full:
        np.testing.assert_array_equal(gradients[key], full[key], err_msg=key)
    with pytest.raises(RuntimeError, match="has run already"):
        tape.backward(douts)


def test_the_report_has_the_fields_of_rnnc_run(para_gru):
    params, inputs, _ = random_data(para_gru, DIMS, batch=1, steps=10)
    _, report = para_gru.forward(params, inputs)
    for field in ["backend", "device", "method", "iterations", "converged", "residual", "time_ms", "non_finite"]:
        assert field in report, field
    assert report["backend"] == "cpu" and report["non_finite"] == {"count": 0, "first": None}
    _, report = para_gru.forward(params, inputs, None, "newton")  # the options in order, as the contract lists them
    assert report["method"] == "newton"


def test_non_finite_outputs_are_counted_and_located(para_gru):
    params, inputs, _ = random_data(para_gru, DIMS, batch=2, steps=10)
    params["Bh"][2] = 1e38
    inputs["x"][1, 4, :2] = [1e30, -1e30]  # Bh @ x = inf - inf = NaN at batch 1, step 4
    outputs, report = para_gru.forward(params, inputs, method="sequential")
    assert report["converged"] is False and report["non_finite"]["count"] > 0
    first = report["non_finite"]["first"]
    assert (first["batch"], first["step"]) == (1, 4) and not np.isfinite(outputs["h"][1, 4]).all()


def test_outputs_are_owned_numpy_arrays(para_gru):
    params, inputs, _ = random_data(para_gru, DIMS, batch=2, steps=5)
    outputs, _ = para_gru.forward(params, inputs)
    h = outputs["h"]
    assert h.flags["C_CONTIGUOUS"] and h.flags["WRITEABLE"]
    h[...] = 0  # the array owns its memory: writing is safe


def test_strided_inputs_are_read_in_c_order(para_gru):
    params, inputs, _ = random_data(para_gru, DIMS, batch=2, steps=7)
    x = np.asfortranarray(inputs["x"])
    strided, _ = para_gru.forward(params, {"x": x})
    plain, _ = para_gru.forward(params, inputs)
    np.testing.assert_array_equal(strided["h"], plain["h"])


def test_param_shapes_store_block_matrices_as_blocks():
    cell = rnnc.stdlib("block_elman", backend="cpu")
    info = cell.inspect()
    block = next(p for p in info["params"] if "block" in p)
    shapes = cell.param_shapes({"H": 8, "D": 3})
    k = block["block"]
    assert shapes[block["name"]] == (8 // k, k, k)


def rnnc_binary(root):
    binary = root / "target" / "release" / "rnnc"
    if not binary.exists():
        pytest.skip("no target/release/rnnc (built by `cargo test --release` or `cargo build --release`)")
    return binary


@pytest.mark.parametrize("name", ["para_gru", "elman", "para_lstm", "block_elman"])
def test_inspect_is_the_command_lines_json(root, name):
    printed = subprocess.run(
        [str(rnnc_binary(root)), "inspect", f"stdlib:{name}", "--json"], check=True, capture_output=True, text=True
    ).stdout
    assert rnnc.stdlib(name, backend="cpu").inspect() == json.loads(printed)


def test_inspect_with_dims_says_what_each_back_end_does():
    backends = rnnc.stdlib("gru", backend="cpu").inspect({"H": 256, "D": 256})["backends"]
    assert backends["gpu"]["runs"] is False
    assert "one thread a sequence would hold every state" in backends["gpu"]["reason"]
    assert backends["cpu"] == {"runs": True, "methods": ["sequential"], "no_newton": backends["cpu"]["no_newton"]}
    plan = rnnc.stdlib("para_gru", backend="cpu").inspect({"H": 64, "D": 64})["backends"]["gpu"]
    assert (plan["lanes"], plan["unknowns"], plan["methods"]) == (64, 1, ["newton", "sequential"])
    assert rnnc.stdlib("para_gru", backend="cpu").inspect()["backends"] is None


def test_inspect_states_the_jacobian_structure():
    structures = {
        name: rnnc.stdlib(name, backend="cpu").inspect()["jacobian"] for name in ["para_gru", "elman", "para_lstm"]
    }
    assert structures["para_gru"]["structure"] == "diagonal"
    assert structures["elman"] == {**structures["elman"], "structure": "dense", "block": None}
    assert (structures["para_lstm"]["structure"], structures["para_lstm"]["block"]) == ("block-diagonal", 2)


def test_a_cell_compiles_from_text_a_path_and_the_stdlib(tmp_path, para_gru):
    path = tmp_path / "gru.rnn"
    path.write_text(para_gru.source)
    assert rnnc.stdlib_source("para_gru") == para_gru.source
    for source in [para_gru.source, str(path), path, "stdlib:para_gru"]:
        cell = rnnc.compile(source, backend="cpu")
        assert cell.name == "para_gru" and cell.params == para_gru.params
    assert rnnc.compile(path, backend="cpu").file == str(path)


def test_one_cell_of_several_is_chosen_by_name():
    source = rnnc.stdlib_source("elman") + "\n" + rnnc.stdlib_source("para_gru")
    assert rnnc.compile(source, cell="para_gru", backend="cpu").name == "para_gru"
    with pytest.raises(rnnc.CompileError, match="several cells"):
        rnnc.compile(source, backend="cpu")
