"""H200 run 71: the exchange's copies by the quad copy kernel (the default)
against the copy command (`RNNC_EXCHANGE_COPY=command`), in the PyTorch
layer's device path (ParaGRU and ParaLSTM, H = 1024, B = 8, method "newton"):
forward, and forward + backward, timed with CUDA events around the layer's
call; the two variants interleaved round by round (the knob is read at each
call), median of 7 rounds after a warm-up; rnnc's kernel time and host wall
from the same calls' reports.

    PYTHONPATH=/tmp/site python3 docs/measurements/h200-run71-copies.py [OUT.jsonl [KNOB A B]]

With KNOB A B, the variants are the environment variable KNOB set to A and
to B instead (run 73: `RNNC_TORCH_BATCHED 0 1`, the torch side's copies one
by one against batched).
"""

import json
import os
import statistics
import sys

import torch

import rnnc.torch as rt


def timed(fn):
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end)


out = open(sys.argv[1], "w") if len(sys.argv) > 1 else None
knob, variants = (sys.argv[2], sys.argv[3:5]) if len(sys.argv) > 4 else ("RNNC_EXCHANGE_COPY", ["command", "kernel"])
for cell in ["para_gru_mh", "para_lstm_cifg_mh"]:
    torch.manual_seed(0)
    layer = rt.Recurrent(cell, {"H": 1024}, backend="gpu", method="newton", device_path=True).cuda()
    for T in [512, 2048, 8192]:
        x = torch.randn(8, T, 1024, device="cuda", requires_grad=True)
        g = torch.randn(8, T, 1024, device="cuda")

        def forward():
            with torch.no_grad():
                layer(x)

        def forward_backward():
            layer(x).backward(g)

        for call, fn in [("forward", forward), ("forward+backward", forward_backward)]:
            rows = {v: {"layer": [], "kernels": [], "wall": []} for v in variants}
            for variant in rows:
                os.environ[knob] = variant
                for _ in range(3):
                    fn()
            for _ in range(7):
                for variant, row in rows.items():
                    os.environ[knob] = variant
                    row["layer"].append(timed(fn))
                    r = layer.last_report
                    row["kernels"].append(r["time_ms"] + (r.get("backward_ms") or 0.0))
                    row["wall"].append(r["wall_ms"])
            for variant, row in rows.items():
                line = {
                    "cell": cell, "T": T, "call": call, "copies": variant, "knob": knob,
                    "layer_ms": {"min": min(row["layer"]), "median": statistics.median(row["layer"]), "max": max(row["layer"])},
                    "kernels_ms": statistics.median(row["kernels"]),
                    "last_wall_ms": statistics.median(row["wall"]),
                }
                print(json.dumps(line))
                if out:
                    out.write(json.dumps(line) + "\n")
