"""stdlib:torch_gru against PyTorch's own nn.GRU: a layer's state_dict (packed
weight_ih_l0 [3H, D], ...) loads unchanged, and the outputs and every gradient
match torch's float64 GRU (forward and autograd), both methods."""

import numpy as np
import pytest
import torch

import rnnc

H, D, B, T = 5, 3, 2, 40


def torch_layer():
    torch.manual_seed(7)
    return torch.nn.GRU(D, H, batch_first=True).double()


@pytest.mark.parametrize("method", ["newton", "sequential"])
def test_a_torch_gru_state_dict_runs_as_torch_runs_it(method):
    layer = torch_layer()
    params = {name: value.detach().numpy().astype(np.float32) for name, value in layer.state_dict().items()}
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (B, T, D)).astype(np.float32)
    h0 = rng.uniform(-0.5, 0.5, (B, H)).astype(np.float32)
    dout = rng.standard_normal((B, T, H)).astype(np.float32)

    cell = rnnc.stdlib("torch_gru", backend="cpu")
    outputs, report = cell.forward(params, {"x": x}, {"h": h0}, method=method)
    gradients = cell.backward(params, {"x": x}, {"h": dout}, {"h": h0}, method=method)

    # torch in float64 on the same (float32-rounded) numbers.
    layer.load_state_dict({name: torch.tensor(value, dtype=torch.float64) for name, value in params.items()})
    x64 = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    h64 = torch.tensor(h0, dtype=torch.float64, requires_grad=True)
    expected, _ = layer(x64, h64.unsqueeze(0))
    (expected * torch.tensor(dout, dtype=torch.float64)).sum().backward()

    assert report["method"] == method and report["converged"] is True
    np.testing.assert_allclose(outputs["h"], expected.detach().numpy(), atol=2e-5, rtol=0)
    wanted = {f"param.{name}": p.grad.numpy() for name, p in layer.named_parameters()}
    wanted["input.x"] = x64.grad.numpy()
    wanted["init.h"] = h64.grad.numpy()
    assert set(gradients) == set(wanted)
    for key, value in gradients.items():
        scale = max(1.0, np.abs(wanted[key]).max())
        np.testing.assert_allclose(value, wanted[key], atol=2e-4 * scale, rtol=0, err_msg=key)
