"""Float64 references of shipped cells, written from their documented equations
(stdlib/cells/*.rnn), independent of rnnc: one step per cell, in terms of an
array module `xp` (numpy for the forward reference, torch float64 for the
backward one through its autograd), and the loop over time."""

import numpy as np


def sigmoid(xp, v):
    return 1.0 / (1.0 + xp.exp(-v))


def para_gru(xp, p, states, x):
    (h,) = states
    z = sigmoid(xp, p["az"] * h + x @ p["Bz"].T + p["bz"])
    r = sigmoid(xp, p["ar"] * h + x @ p["Br"].T + p["br"])
    hc = xp.tanh(p["ah"] * (h * r) + x @ p["Bh"].T + p["bh"])
    h = z * hc + (1 - z) * h
    return (h,), {"h": h}


def elman(xp, p, states, x):
    (h,) = states
    h = xp.tanh(x @ p["W"].T + h @ p["U"].T + p["b"])
    return (h,), {"h": h}


def para_lstm(xp, p, states, x):
    c, h = states
    f = sigmoid(xp, p["af"] * h + p["pf"] * c + x @ p["Bf"].T + p["bf"])
    cc = xp.tanh(p["ac"] * h + x @ p["Bc"].T + p["bc"])
    c = f * c + (1 - f) * cc
    o = sigmoid(xp, p["ao"] * h + p["po"] * c + x @ p["Bo"].T + p["bo"])
    h = o * xp.tanh(c)
    return (c, h), {"h": h}


STEPS = {"para_gru": (para_gru, ["h"]), "elman": (elman, ["h"]), "para_lstm": (para_lstm, ["c", "h"])}


def run(xp, cell, params, x, inits):
    """Every output `[B, T, H]` of `cell` over `x` `[B, T, D]` from `inits`
    (a dict state -> `[B, H]`), in `xp`'s arrays."""
    step, state_names = STEPS[cell]
    states = tuple(inits[name] for name in state_names)
    outputs = {}
    for t in range(x.shape[1]):
        states, out = step(xp, params, states, x[:, t])
        for name, value in out.items():
            outputs.setdefault(name, []).append(value)
    return {name: xp.stack(values, 1) for name, values in outputs.items()}


def forward64(cell, params, x, inits):
    """The outputs in float64 numpy."""
    as64 = lambda d: {k: np.asarray(v, np.float64) for k, v in d.items()}
    return run(np, cell, as64(params), np.asarray(x, np.float64), as64(inits))


def gradients64(cell, params, x, inits, douts):
    """The gradients of sum(douts[o] * o) keyed like rnnc's, by torch float64
    autograd through `run`."""
    import torch

    leaf = lambda a: torch.tensor(np.asarray(a, np.float64), requires_grad=True)
    p = {k: leaf(v) for k, v in params.items()}
    xt = leaf(x)
    h0 = {k: leaf(v) for k, v in inits.items()}
    outputs = run(torch, cell, p, xt, h0)
    loss = sum((outputs[k] * torch.from_numpy(np.asarray(d, np.float64))).sum() for k, d in douts.items())
    loss.backward()
    grads = {f"param.{k}": v.grad.numpy() for k, v in p.items()}
    grads["input.x"] = xt.grad.numpy()
    grads.update({f"init.{k}": v.grad.numpy() for k, v in h0.items()})
    return grads
