"""A matrix state through `import rnnc`: stdlib:mamba_ssm's state `h: [D, N]` takes
its initial value as [B, D, N] and gives its gradient the same shape; its output
against Mamba's equations in float64 (numpy), written here."""

import numpy as np

import rnnc

D, N = 3, 4


def softplus(v):
    return np.maximum(v, 0) + np.log1p(np.exp(-np.abs(v)))


def forward64(p, x, h0):
    p = {k: v.astype(np.float64) for k, v in p.items()}
    batch, steps, _ = x.shape
    ys = np.zeros((batch, steps, D))
    for b in range(batch):
        h = h0[b].astype(np.float64)
        for t in range(steps):
            xt = x[b, t].astype(np.float64)
            dt = softplus(p["W_dt"] @ xt + p["b_dt"])
            a = -np.exp(p["A_log"])
            h = np.exp(dt[:, None] * a) * h + np.outer(dt * xt, p["W_B"] @ xt)
            ys[b, t] = h @ (p["W_C"] @ xt) + p["D_skip"] * xt
    return ys


def test_mamba_ssm_takes_and_gives_matrix_states_and_matches_the_equations():
    cell = rnnc.stdlib("mamba_ssm", backend="cpu")
    dims = {"D": D, "N": N}
    shapes = cell.param_shapes(dims)
    assert shapes["A_log"] == (D, N)
    assert cell.inspect()["states"] == [{"name": "h", "shape": ["D", "N"]}]
    assert cell.inspect()["linear"] is True and cell.inspect()["jacobian"]["structure"] == "diagonal"
    rng = np.random.default_rng(0)
    params = {name: rng.uniform(-0.5, 0.5, shape).astype(np.float32) for name, shape in shapes.items()}
    x = rng.uniform(-1, 1, (2, 30, D)).astype(np.float32)
    h0 = rng.uniform(-0.5, 0.5, (2, D, N)).astype(np.float32)
    outputs, report = cell.forward(params, {"x": x}, {"h": h0})
    assert report["method"] in ("scan", "sequential")
    np.testing.assert_allclose(outputs["y"], forward64(params, x, h0), atol=2e-5, rtol=0)
    douts = {"y": np.ones((2, 30, D), np.float32)}
    gradients = cell.backward(params, {"x": x}, douts, {"h": h0})
    assert gradients["init.h"].shape == (2, D, N)
    assert gradients["param.A_log"].shape == (D, N)
