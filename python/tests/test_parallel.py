"""Sequence parallel solving (`rnnc.parallel`): one sequence cut into slices
over 2 and 3 CPU processes (gloo) gives the one-process solve's outputs and
gradients within the solver's tolerance, corrects only a prefix (forward) and
a suffix (backward) of each slice where the cell forgets, and refuses a cell
whose states are not outputs."""

import os
import tempfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

import rnnc  # noqa: E402
import rnnc.parallel  # noqa: E402
from conftest import random_data  # noqa: E402

DIMS = {"H": 8, "D": 3}
BATCH, STEPS = 2, 600


def data():
    cell = rnnc.stdlib("para_gru", backend="cpu")
    params, inputs, inits = random_data(cell, DIMS, BATCH, STEPS, seed=4)
    rng = np.random.default_rng(5)
    douts = {"h": rng.uniform(-1, 1, (BATCH, STEPS, DIMS["H"])).astype(np.float32)}
    return cell, params, inputs, inits, douts


def worker(rank, world, store, results):
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    cell, params, inputs, inits, douts = data()
    cut = np.linspace(0, STEPS, world + 1).astype(int)
    mine = slice(cut[rank], cut[rank + 1])
    x = {"x": np.ascontiguousarray(inputs["x"][:, mine])}
    d = {"h": np.ascontiguousarray(douts["h"][:, mine])}
    outputs, ctx = rnnc.parallel.forward(cell, params, x, inits, method="newton")
    grads = rnnc.parallel.backward(ctx, d)
    results[rank] = (outputs, grads, ctx.prefix_steps, ctx.suffix_steps)
    dist.destroy_process_group()


def run(world):
    with tempfile.TemporaryDirectory() as folder:
        store = os.path.join(folder, "store")
        results = mp.Manager().dict()
        mp.spawn(worker, args=(world, store, results), nprocs=world, join=True)
        return dict(results)


@pytest.mark.parametrize("world", [2, 3])
def test_slices_over_processes_match_the_whole_sequence(world):
    cell, params, inputs, inits, douts = data()
    outputs, _ = cell.forward(params, inputs, inits, method="newton")
    grads = cell.backward(params, inputs, douts, inits, method="newton")
    results = run(world)
    h = np.concatenate([results[r][0]["h"] for r in range(world)], axis=1)
    np.testing.assert_allclose(h, outputs["h"], rtol=1e-4, atol=1e-5)
    dx = np.concatenate([results[r][1]["input.x"] for r in range(world)], axis=1)
    np.testing.assert_allclose(dx, grads["input.x"], rtol=1e-3, atol=1e-4 * np.abs(grads["input.x"]).max())
    for key in [k for k in grads if k.startswith("param.")]:
        for r in range(world):
            np.testing.assert_allclose(
                results[r][1][key], grads[key], rtol=1e-3, atol=1e-4 * np.abs(grads[key]).max(), err_msg=key
            )
    np.testing.assert_allclose(results[0][1]["init.h"], grads["init.h"], rtol=1e-3, atol=1e-5)
    slice_steps = STEPS // world
    for r in range(1, world):
        assert 0 < results[r][2] < slice_steps, f"rank {r} re-solved {results[r][2]} of {slice_steps} steps"
    for r in range(world - 1):
        assert 0 < results[r][3] < slice_steps, f"rank {r} corrected {results[r][3]} of {slice_steps} steps"


def test_a_cell_whose_states_are_not_outputs_is_refused():
    cell = rnnc.compile("cell c { dim H; input x: [H]; state s: [H]; s' = tanh(s + x); output y = 2 * s'; }", backend="cpu")
    dist.init_process_group("gloo", init_method=f"file://{tempfile.mkdtemp()}/store", rank=0, world_size=1)
    try:
        with pytest.raises(ValueError, match="every state as an output of the same name; s is not"):
            rnnc.parallel.forward(cell, {}, {"x": np.zeros((1, 4, 2), np.float32)})
    finally:
        dist.destroy_process_group()


def layer_worker(rank, world, store, results):
    import rnnc.torch as rt

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    torch.manual_seed(0)
    layer = rt.Recurrent("para_gru", DIMS, backend="cpu", method="newton")
    x = torch.randn(BATCH, STEPS, DIMS["D"], generator=torch.Generator().manual_seed(1))
    cut = np.linspace(0, STEPS, world + 1).astype(int)
    xs = x[:, cut[rank] : cut[rank + 1]].clone().requires_grad_(True)
    h = rt.sequence_parallel(layer, xs)
    h.pow(2).sum().backward()
    results[rank] = (h.detach().numpy(), xs.grad.numpy(), layer.Bz.grad.numpy())
    dist.destroy_process_group()


def test_the_torch_layer_solves_a_sequence_over_processes():
    import rnnc.torch as rt

    torch.manual_seed(0)
    layer = rt.Recurrent("para_gru", DIMS, backend="cpu", method="newton")
    x = torch.randn(BATCH, STEPS, DIMS["D"], generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    h = layer(x)
    h.pow(2).sum().backward()
    with tempfile.TemporaryDirectory() as folder:
        results = mp.Manager().dict()
        mp.spawn(layer_worker, args=(2, os.path.join(folder, "store"), results), nprocs=2, join=True)
        results = dict(results)
    np.testing.assert_allclose(np.concatenate([results[0][0], results[1][0]], 1), h.detach().numpy(), rtol=1e-4, atol=1e-5)
    scale = x.grad.abs().max().item()
    np.testing.assert_allclose(np.concatenate([results[0][1], results[1][1]], 1), x.grad.numpy(), atol=1e-4 * scale)
    for r in (0, 1):
        np.testing.assert_allclose(results[r][2], layer.Bz.grad.numpy(), rtol=1e-3, atol=1e-4 * layer.Bz.grad.abs().max().item())
