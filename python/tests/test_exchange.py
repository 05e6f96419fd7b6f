"""The exchange: a call's tensors in one GPU buffer (lavapipe in CI). A forward
and backward through it give the host path's outputs and gradients; its
memory exports as a file descriptor; wrong uses raise. On a machine with CUDA,
the torch layer's device path (CUDA tensors copied into the exchange that CUDA
maps) gives the host path's results."""

import os

import numpy as np
import pytest

import rnnc
from conftest import random_data

DIMS = {"H": 8, "D": 3}


def gpu_cell(name="para_gru"):
    return rnnc.stdlib(name, backend="gpu")


def filled_exchange(cell, batch, steps, seed=0, export=False):
    params, inputs, inits = random_data(cell, DIMS, batch, steps, seed=seed)
    rng = np.random.default_rng(seed + 1)
    douts = {o: rng.uniform(-1, 1, (batch, steps, DIMS["H"])).astype(np.float32) for o in cell.outputs}
    ex = cell.exchange(DIMS, batch, steps, export=export)
    ex.write({f"param.{n}": a for n, a in params.items()})
    ex.write({f"input.{n}": a for n, a in inputs.items()})
    ex.write({f"init.{n}": a for n, a in inits.items()})
    ex.write({f"dout.{n}": a for n, a in douts.items()})
    return ex, (params, inputs, inits, douts)


@pytest.mark.parametrize("method", ["newton", "sequential"])
def test_forward_and_backward_through_an_exchange_match_the_host_path(method):
    cell = gpu_cell()
    ex, (params, inputs, inits, douts) = filled_exchange(cell, 2, 30)
    report = ex.forward(method=method, keep=True)
    assert report["method"] == method
    outputs, _, tape = cell.forward_tape(params, inputs, inits, method=method)
    gradients, _ = tape.backward(douts)
    for name, want in outputs.items():
        np.testing.assert_allclose(ex.read(f"output.{name}"), want, rtol=1e-6, atol=1e-6)
    report = ex.backward()
    assert report["backward_ms"] is not None
    for key, want in gradients.items():
        got = ex.read(f"grad.{key}")
        assert got.shape == want.shape, key
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max(), err_msg=key)


def test_regions_are_aligned_and_shaped_as_users_hold_the_tensors():
    ex = gpu_cell().exchange(DIMS, 2, 5)
    regions = ex.regions
    assert regions["input.x"][1] == (2, 5, 3)
    assert regions["init.h"][1] == (2, 8)
    assert regions["grad.param.Bz"][1] == (8, 3)
    assert all(offset % 256 == 0 for offset, _ in regions.values())
    assert ex.shape == (2, 5) and ex.nbytes >= max(o + 4 * int(np.prod(s)) for o, s in regions.values())


def test_wrong_uses_raise_with_their_reasons():
    ex, _ = filled_exchange(gpu_cell(), 1, 4)
    with pytest.raises(RuntimeError, match="no forward\\(keep=True\\)"):
        ex.backward()
    ex.forward(keep=False)
    with pytest.raises(RuntimeError, match="no forward\\(keep=True\\)"):
        ex.backward()
    with pytest.raises(rnnc.DeviceError, match="no region `output.nothing`"):
        ex.read("output.nothing")
    with pytest.raises(rnnc.DeviceError, match="holds 24 values"):
        ex.write({"param.Bz": np.zeros(3, np.float32)})
    with pytest.raises(rnnc.DeviceError, match="not exported"):
        ex.descriptor()
    with pytest.raises(rnnc.DeviceError, match="needs a GPU engine"):
        rnnc.stdlib("para_gru", backend="cpu").exchange(DIMS, 1, 4)


def test_exported_memory_gives_a_descriptor_and_the_same_results():
    cell = gpu_cell()
    ex, (params, inputs, inits, _) = filled_exchange(cell, 2, 10, export=True)
    fd = ex.descriptor()
    assert isinstance(fd, int) and fd >= 0
    os.close(fd)
    assert ex.allocation_bytes >= ex.nbytes
    assert ex.device_uuid is None or len(ex.device_uuid) == 16
    ex.forward(method="newton")
    outputs, _ = cell.forward(params, inputs, inits, method="newton")
    np.testing.assert_allclose(ex.read("output.h"), outputs["h"], rtol=1e-6, atol=1e-6)


torch = pytest.importorskip("torch")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


@needs_cuda
@pytest.mark.parametrize("ordered", ["1", "0"])
def test_the_layers_device_path_matches_its_host_path(monkeypatch, ordered):
    import warnings

    import rnnc.torch as rt

    # "1": calls ordered on the device by the exchange's shared timeline
    # (NVIDIA's driver exports timeline semaphores); "0": through the host.
    monkeypatch.setenv("RNNC_TORCH_ORDERED", ordered)
    torch.manual_seed(0)
    dims = {"H": 64, "D": 16}
    device_layer = rt.Recurrent("para_gru", dims, backend="gpu", device_path=True).cuda()
    host_layer = rt.Recurrent(device_layer.cell, dims, device_path=False).cuda()
    host_layer.load_state_dict(device_layer.state_dict())
    x = torch.randn(4, 300, 16, device="cuda")
    results = []
    for layer in (device_layer, host_layer):
        xi = x.clone().requires_grad_(True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            h = layer(xi)
        h.pow(2).mean().backward()
        results.append((h.detach(), xi.grad, {n: p.grad for n, p in layer.named_parameters()}))
    assert device_layer.device_path_active and not host_layer.device_path_active
    slots = [slot for pool in device_layer._exchanges.values() for slot in pool]
    assert slots and all(slot.cuda.ordered for slot in slots), "the exchanges share a timeline with CUDA"
    report = device_layer.last_report
    assert report["method"] in ("newton", "sequential") and report["converged"] is True, report
    # An ordered call's report is read after its work, untimed; a host-ordered one is timed.
    assert (report["time_ms"] == 0.0) == (ordered == "1"), report
    (h_d, x_d, p_d), (h_h, x_h, p_h) = results
    torch.testing.assert_close(h_d, h_h, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(x_d, x_h, rtol=1e-4, atol=1e-7)
    for name in p_h:
        torch.testing.assert_close(p_d[name], p_h[name], rtol=1e-4, atol=1e-6, msg=name)

@pytest.mark.parametrize("batched", ["1", "0"])
def test_the_device_paths_copies_in_and_out_are_exact(monkeypatch, batched):
    import rnnc.torch as rt

    monkeypatch.setenv("RNNC_TORCH_BATCHED", batched)
    assert rt._batched_copies() == (batched == "1"), "this torch batches copies (torch._foreach_copy_)"
    batched_calls = []
    foreach_copy = torch._foreach_copy_
    monkeypatch.setattr(torch, "_foreach_copy_", lambda *a: batched_calls.append(1) or foreach_copy(*a))
    a = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    b = torch.tensor([-0.0, float("inf"), 1e-38, -2.5])
    outs = rt._copies_out([a, b, a], [(a.device, torch.float32), None, (a.device, torch.float64)])
    assert outs[1] is None
    assert outs[0].dtype == torch.float32 and outs[2].dtype == torch.float64
    assert torch.equal(outs[0], a) and outs[0].data_ptr() != a.data_ptr()
    assert torch.equal(outs[2], a.double())
    views = [torch.empty(2, 3), torch.empty(4), torch.ones(5)]
    rt._fill_all([(views[0], a.reshape(6)), (views[1], b.double()), (views[2], None)])
    assert torch.equal(views[0], a) and torch.equal(views[2], torch.zeros(5))
    assert views[1].tolist() == b.tolist() and torch.signbit(views[1][0])
    # Batched: one torch._foreach_copy_ each way; one by one: none.
    assert len(batched_calls) == (2 if batched == "1" else 0), batched_calls
