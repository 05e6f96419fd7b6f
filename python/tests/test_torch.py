"""rnnc.torch.Recurrent: the layer's outputs and gradients against rnnc's own
calls and a float64 torch reference, central differences of the float32 layer
(torch.autograd.gradcheck in float64, with float32's tolerances), initial
states, several outputs, and the module's parameters."""

import numpy as np
import pytest
import torch

import rnnc
import rnnc.torch as rt
from reference import run as reference_run


def layer_and_data(cell="para_gru", dims=None, batch=2, steps=30, seed=0, **options):
    dims = dims or {"H": 5, "D": 3}
    torch.manual_seed(seed)
    layer = rt.Recurrent(cell, dims, backend="cpu", **options)
    x = torch.randn(batch, steps, dims["D"], requires_grad=True)
    return layer, x


def test_parameters_are_the_cells_with_their_shapes():
    layer, _ = layer_and_data()
    names = [name for name, _ in layer.named_parameters()]
    assert names == layer.cell.params
    assert dict((n, tuple(p.shape)) for n, p in layer.named_parameters()) == layer.cell.param_shapes(layer.dims)
    assert set(layer.state_dict()) == set(names)
    for name, p in layer.named_parameters():  # uniform in +-1/sqrt(fan-in)
        assert p.abs().max() <= 1 / np.sqrt(p.shape[-1]) and p.std() > 0, name


def test_forward_is_the_cells_forward():
    layer, x = layer_and_data()
    h = layer(x)
    params = {n: p.detach().numpy() for n, p in layer.named_parameters()}
    expected, _ = layer.cell.forward(params, {"x": x.detach().numpy()})
    assert h.dtype == torch.float32 and h.shape == (2, 30, 5)
    np.testing.assert_array_equal(h.detach().numpy(), expected["h"])
    assert layer.last_report["converged"] is True


@pytest.mark.parametrize("method", ["newton", "sequential"])
def test_gradients_match_float64_autograd(method):
    layer, x = layer_and_data(method=method, steps=40)
    h0 = torch.randn(2, 5, requires_grad=True)
    weights = torch.randn(2, 40, 5)
    (layer(x, init=h0) * weights).sum().backward()
    leaf = lambda t: t.detach().double().requires_grad_(True)
    params64 = {n: leaf(p) for n, p in layer.named_parameters()}
    x64, h064 = leaf(x), leaf(h0)
    (reference_run(torch, "para_gru", params64, x64, {"h": h064})["h"] * weights.double()).sum().backward()
    pairs = [(x.grad, x64.grad), (h0.grad, h064.grad)]
    pairs += [(p.grad, params64[n].grad) for n, p in layer.named_parameters()]
    for got, want in pairs:
        torch.testing.assert_close(got.double(), want, atol=2e-4 * max(1.0, want.abs().max().item()), rtol=0)


@pytest.mark.parametrize("method", ["newton", "sequential"])
@pytest.mark.parametrize("cell", ["para_gru", "elman", "para_lstm"])
def test_central_differences_of_the_float32_layer(cell, method):
    """gradcheck in float64 around the float32 layer: inputs and parameters are
    cast to float32 inside, so the step and tolerances are float32's."""
    layer, _ = layer_and_data(cell, dims={"H": 3, "D": 2}, method=method)
    torch.manual_seed(1)
    x = torch.randn(2, 7, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    params = [getattr(layer, n).detach().double().requires_grad_(True) for n in layer.cell.params]

    def function(x, h0, *values):
        # The layer's own parameters are float32 leaves: the float64 copies go
        # through its autograd function as the layer passes its parameters.
        inits = {state: h0 for state in layer.cell.states}
        run = rt._Run(layer, layer.cell.inputs, inits.keys())
        return rt._CellFunction.apply(run, *values, x, *inits.values())

    assert torch.autograd.gradcheck(function, (x, h0, *params), eps=1e-2, atol=2e-3, rtol=2e-3)


def test_a_second_backward_through_the_same_graph_runs_again():
    layer, x = layer_and_data()
    loss = layer(x).pow(2).sum()
    loss.backward(retain_graph=True)
    first = x.grad.clone()
    loss.backward()  # the tape is spent: rnnc runs forward and back again
    torch.testing.assert_close(x.grad, 2 * first)


def test_a_cell_with_two_outputs_and_two_inputs():
    source = """
    cell mix {
        dim H;
        input u: [H];
        input v: [H];
        state h: [H];
        param a: [H];
        h' = tanh(a * h + u * v);
        output h;
        output g = h' * h';
    }"""
    layer = rt.Recurrent(source, {"H": 4}, backend="cpu")
    u = torch.randn(2, 6, 4, requires_grad=True)
    v = torch.randn(2, 6, 4, requires_grad=True)
    out = layer(u, v)
    assert set(out) == {"h", "g"}
    torch.testing.assert_close(out["g"], out["h"] * out["h"])
    (out["g"].sum() + out["h"][:, -1].sum()).backward()
    a = layer.a.detach().double().requires_grad_(True)
    h, expect = torch.zeros(2, 4, dtype=torch.float64), 0
    for t in range(6):
        h = torch.tanh(a * h + u[:, t].double() * v[:, t].double())
        expect = expect + (h * h).sum()
    expect = expect + h.sum()
    expect.backward()
    torch.testing.assert_close(layer.a.grad.double(), a.grad, atol=1e-4, rtol=1e-4)
    with pytest.raises(TypeError, match="takes 2 input"):
        layer(u)


def test_initial_states_by_name_for_two_states():
    layer, x = layer_and_data("para_lstm")
    c0 = torch.randn(2, 5, requires_grad=True)
    h = layer(x, init={"c": c0})
    h.sum().backward()
    assert c0.grad is not None and c0.grad.abs().sum() > 0
    with pytest.raises(TypeError, match="as a dict"):
        layer(x, init=c0)


def test_float64_inputs_give_float64_outputs_and_gradients():
    layer, _ = layer_and_data()
    x = torch.randn(2, 10, 3, dtype=torch.float64, requires_grad=True)
    h = layer(x)
    assert h.dtype == torch.float64
    h.sum().backward()
    assert x.grad.dtype == torch.float64 and layer.Bz.grad.dtype == torch.float32


def test_chrono_init_spreads_the_update_gate_biases():
    layer = rt.Recurrent("para_gru", {"H": 64, "D": 2}, backend="cpu", init=rt.chrono_init(100))
    bz = layer.bz.detach()
    assert bz.max() <= 0 and bz.min() >= -np.log(99) - 1e-5 and bz.std() > 0.5


def test_a_compiled_cell_and_errors_pass_through():
    cell = rnnc.stdlib("para_gru", backend="cpu")
    layer = rt.Recurrent(cell, {"H": 4, "D": 3})
    assert layer.cell is cell
    with pytest.raises(rnnc.DataError, match="input `x`"):
        layer(torch.randn(2, 5, 7))
    with pytest.raises(rnnc.CompileError, match=":1:"):
        rt.Recurrent("cell c { dim H; input x: [H]; state h: [H]; h' = x +; output h; }", {"H": 2}, backend="cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_tensors_go_through_host_memory():
    layer, x = layer_and_data()
    layer = layer.cuda()
    xc = x.detach().cuda().requires_grad_(True)
    h = layer(xc)
    assert h.device == xc.device
    h.sum().backward()
    assert xc.grad.device == xc.device and layer.Bz.grad.device == xc.device


def test_without_gradients_no_tape_is_kept_and_the_outputs_are_the_same():
    layer, x = layer_and_data()
    with_tape = layer(x)
    with torch.no_grad():
        without = layer(x)
    assert with_tape.requires_grad and not without.requires_grad
    torch.testing.assert_close(without, with_tape.detach(), rtol=0, atol=0)


def test_a_second_backward_after_an_in_place_change_is_refused():
    layer, x = layer_and_data()
    loss = layer(x).pow(2).sum()
    loss.backward(retain_graph=True)
    with torch.no_grad():
        layer.Bz.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_scalar_parameters_are_zero_dimensional_with_summed_gradients():
    # stdlib:cornn's dt, gamma and eps are `scalar` parameters: shape [], drawn
    # from U(0, 1), and their gradients (summed over every channel and step by
    # rnnc) match central differences of the layer in float64 arithmetic of the
    # loss (the layer itself is float32, hence the step and tolerance).
    torch.manual_seed(3)
    layer = rt.Recurrent("cornn", {"H": 4, "D": 3}, backend="cpu")
    x = torch.randn(2, 12, 3)
    scalars = {n: p for n, p in layer.named_parameters() if p.dim() == 0}
    assert sorted(scalars) == ["dt", "eps", "gamma"]
    assert all(0 <= p.detach().item() < 1 for p in scalars.values())
    layer(x).sum().backward()
    for name, p in scalars.items():
        with torch.no_grad():
            base, step = p.item(), 1e-2
            p.fill_(base + step)
            up = layer(x).double().sum()
            p.fill_(base - step)
            down = layer(x).double().sum()
            p.fill_(base)
        numeric = float((up - down) / (2 * step))
        assert p.grad.shape == ()
        assert abs(float(p.grad) - numeric) <= 2e-2 * max(abs(numeric), 1.0), (name, float(p.grad), numeric)
