"""Checks the block-diagonal input projection cell (tests/filetests/block_input.rnn)
on the device: `rnnc run` and `rnnc grad` on the GPU and the CPU against an
independent float64 PyTorch model of the same equations (autograd for the
gradients). Usage: python3 block_input_check.py RNNC_BINARY OUT_DIR"""

import json
import struct
import subprocess
import sys

import numpy as np
import torch

rnnc, out = sys.argv[1], sys.argv[2]
H, D, B, T, K = 64, 16, 3, 500, 4
G = H // K
rng = np.random.default_rng(7)


def uniform(shape, scale):
    return (rng.uniform(-scale, scale, size=shape)).astype(np.float32)


params = {
    "Wx": uniform((G, K, K), 0.5),
    "Wz": uniform((G, K, K), 0.5),
    "V": uniform((H, D), 0.25),
    "a": uniform((H,), 0.9),
    "b": uniform((H,), 0.5),
}
x = uniform((B, T, H), 1.0)
u = uniform((B, T, D), 1.0)
dh = uniform((B, T, H), 1.0)


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    return {
        k: np.frombuffer(raw[base + v["data_offsets"][0] : base + v["data_offsets"][1]], dtype="<f4").reshape(v["shape"])
        for k, v in header.items()
        if k != "__metadata__"
    }


write_safetensors(f"{out}/p.safetensors", params)
for name, array in [("x", x), ("u", u), ("dh", dh)]:
    np.save(f"{out}/{name}.npy", array)

# The float64 reference, written from the cell's equations.
tp = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
tu = torch.tensor(u, dtype=torch.float64, requires_grad=True)


def block(w, v):
    return torch.einsum("gjq,bgq->bgj", w, v.view(v.shape[0], G, K)).reshape(v.shape[0], H)


h = torch.zeros(B, H, dtype=torch.float64)
hs = []
for t in range(T):
    z = torch.sigmoid(block(tp["Wz"], tx[:, t]) + tp["b"])
    h = z * torch.tanh(block(tp["Wx"], tx[:, t]) + tu[:, t] @ tp["V"].T + tp["a"] * h) + (1 - z) * h
    hs.append(h)
hs = torch.stack(hs, 1)
(hs * torch.tensor(dh, dtype=torch.float64)).sum().backward()
ref_grads = {f"param.{k}": v.grad.numpy() for k, v in tp.items()}
ref_grads["input.x"] = tx.grad.numpy()
ref_grads["input.u"] = tu.grad.numpy()
ref_h = hs.detach().numpy()

cell = "tests/filetests/block_input.rnn"
worst = 0.0
for backend in ["gpu", "cpu"]:
    for method in ["newton", "sequential"]:
        common = [cell, "--params", f"{out}/p.safetensors", "--input", f"x={out}/x.npy", "--input", f"u={out}/u.npy"]
        common += ["--backend", backend, "--method", method]
        subprocess.run([rnnc, "run", *common, "--out", f"{out}/h.npy", "--report", f"{out}/r.json"], check=True)
        subprocess.run([rnnc, "grad", *common, "--dout", f"h={out}/dh.npy", "--out", f"{out}/g.safetensors"], check=True)
        report = json.load(open(f"{out}/r.json"))
        got = np.load(f"{out}/h.npy")
        errors = {"h": np.abs(got - ref_h).max() / np.abs(ref_h).max()}
        grads = read_safetensors(f"{out}/g.safetensors")
        for key, want in ref_grads.items():
            errors[key] = float(np.abs(grads[key] - want).max() / np.abs(want).max())
        worst = max(worst, max(errors.values()))
        line = {"check": "block_input", "backend": backend, "method": report["method"], "converged": report["converged"],
                "B": B, "T": T, "H": H, "D": D, "relative_errors": {k: float(v) for k, v in errors.items()}}
        print(json.dumps(line))
print(json.dumps({"check": "block_input", "worst_relative_error": worst, "pass": bool(worst < 1e-3)}))
