"""H200 x2 run 46: one sequence of ParaGRU (H = D = 1024, B = 1) solved on one
GPU, then cut in two slices over two GPUs (run 47: the script as run 46's,
with the backward's reports counted) (`rnnc.parallel`, NCCL for the
states between slices), through host memory (numpy arrays, `Cell.forward` and
`Cell.backward`). Per round: the wall time of the whole call on every rank
(barriers around it) and, from the rnnc reports, each rank's GPU kernel time
(`time_ms` + `backward_ms` of every solve it ran); the slowest rank's counts.

    torchrun --standalone --nproc-per-node N docs/measurements/h200x2-run46-seqpar.py --steps T
"""

import argparse
import json
import os
import statistics
import time

import numpy as np
import torch
import torch.distributed as dist

import rnnc
import rnnc.cuda
import rnnc.parallel

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=1 << 17)
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--hidden", type=int, default=1024)
args = parser.parse_args()
local = int(os.environ.get("LOCAL_RANK", "0"))
cuda = torch.cuda.is_available()
if cuda:
    torch.cuda.set_device(local)
dist.init_process_group("nccl" if cuda else "gloo")
rank, world = dist.get_rank(), dist.get_world_size()
adapter = "uuid:" + rnnc.cuda.cuda_uuid(local).hex() if cuda else None
cell = rnnc.stdlib("para_gru", backend="gpu", adapter=adapter)
H = args.hidden
device = "cuda" if cuda else "cpu"
rng = np.random.default_rng(0)
params = {
    n: (rng.uniform(-1, 1, s) / np.sqrt(s[-1])).astype(np.float32) for n, s in cell.param_shapes({"H": H, "D": H}).items()
}
cut = np.linspace(0, args.steps, world + 1).astype(int)
steps = cut[rank + 1] - cut[rank]
x = np.random.default_rng(1 + rank).standard_normal((1, steps, H)).astype(np.float32)
dh = np.random.default_rng(100 + rank).standard_normal((1, steps, H)).astype(np.float32)


def kernels(reports):
    return sum(r["time_ms"] + (r.get("backward_ms") or 0.0) for r in reports)


def timed(fn):
    dist.barrier()
    start = time.perf_counter()
    value = fn()
    dist.barrier()
    return (time.perf_counter() - start) * 1e3, value


lines = []
for kind in ("forward", "forward+backward"):
    walls, slowest = [], []
    for round in range(args.rounds + 1):
        def call():
            out, ctx = rnnc.parallel.forward(cell, params, {"x": x}, method="newton")
            if kind == "forward":
                return ctx.reports, ctx
            rnnc.parallel.backward(ctx, {"h": dh})
            return ctx.reports, ctx

        wall, (reports, ctx) = timed(call)
        mine = torch.tensor([kernels(reports)], device=device)
        dist.all_reduce(mine, op=dist.ReduceOp.MAX)
        if round > 0:
            walls.append(wall)
            slowest.append(mine.item())
    corrections = torch.tensor([ctx.prefix_steps, ctx.suffix_steps], device=device)
    dist.all_reduce(corrections, op=dist.ReduceOp.MAX)
    if rank == 0:
        line = {
            "world": world, "steps": args.steps, "call": kind, "wall_ms": statistics.median(walls),
            "wall_ms_all": walls, "slowest_rank_kernel_ms": statistics.median(slowest),
            "most_prefix_steps": int(corrections[0]), "most_suffix_steps": int(corrections[1]),
        }
        print(json.dumps(line), flush=True)
dist.destroy_process_group()
