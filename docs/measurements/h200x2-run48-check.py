"""H200 x2 run 48: sequence parallel solving on GPUs gives the one-GPU result.
ParaGRU, H = D = 256, B = 2, T = 16384, Newton: every rank also solves the
whole sequence on its own GPU and compares its slice's outputs and input
gradients, and the summed parameter gradients, with it.

    torchrun --standalone --nproc-per-node 2 docs/measurements/h200x2-run48-check.py
"""

import json
import os

import numpy as np
import torch
import torch.distributed as dist

import rnnc
import rnnc.cuda
import rnnc.parallel

local = int(os.environ.get("LOCAL_RANK", "0"))
torch.cuda.set_device(local)
dist.init_process_group("nccl")
rank, world = dist.get_rank(), dist.get_world_size()
cell = rnnc.stdlib("para_gru", backend="gpu", adapter="uuid:" + rnnc.cuda.cuda_uuid(local).hex())
H, B, T = 256, 2, 16384
rng = np.random.default_rng(0)
params = {
    n: (rng.uniform(-1, 1, s) / np.sqrt(s[-1])).astype(np.float32) for n, s in cell.param_shapes({"H": H, "D": H}).items()
}
x = np.random.default_rng(1).standard_normal((B, T, H)).astype(np.float32)
dh = np.random.default_rng(2).standard_normal((B, T, H)).astype(np.float32)
cut = np.linspace(0, T, world + 1).astype(int)
mine = slice(cut[rank], cut[rank + 1])

whole, _ = cell.forward(params, {"x": x}, method="newton")
grads = cell.backward(params, {"x": x}, {"h": dh}, method="newton")
out, ctx = rnnc.parallel.forward(cell, params, {"x": np.ascontiguousarray(x[:, mine])}, method="newton")
part = rnnc.parallel.backward(ctx, {"h": np.ascontiguousarray(dh[:, mine])})


def error(got, want):
    return float(np.abs(got - want).max() / np.abs(want).max())


result = {
    "rank": rank,
    "outputs": error(out["h"], whole["h"][:, mine]),
    "input_gradients": error(part["input.x"], grads["input.x"][:, mine]),
    "parameter_gradients": max(error(part[k], grads[k]) for k in grads if k.startswith("param.")),
    "prefix_steps": ctx.prefix_steps,
    "suffix_steps": ctx.suffix_steps,
}
print(json.dumps(result), flush=True)
dist.destroy_process_group()
