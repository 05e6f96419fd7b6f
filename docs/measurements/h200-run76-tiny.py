"""H200 run 76: the fixed cost of one call of the layer's device path, on a
cell so small that its kernels take microseconds (para_gru, H = D = 8, B = 1,
T = 16), ordered on the device (`RNNC_TORCH_ORDERED=1`) and through the host
(`0`): 20 calls back to back, the host's time to issue them and the device's
time (CUDA events), per call; median of 7 rounds.

    PYTHONPATH=/tmp/site python3 docs/measurements/h200-run76-tiny.py [OUT.jsonl]
"""

import json
import os
import statistics
import sys
import time

import torch

import rnnc.torch as rt

out = open(sys.argv[1], "w") if len(sys.argv) > 1 else None
torch.manual_seed(0)
layer = rt.Recurrent("para_gru", {"H": 8, "D": 8}, backend="gpu", method="newton", device_path=True).cuda()
x = torch.randn(1, 16, 8, device="cuda", requires_grad=True)
g = torch.randn(1, 16, 8, device="cuda")


def forward():
    with torch.no_grad():
        layer(x)


def forward_backward():
    layer(x).backward(g)


def plain_torch():
    # The torch side alone, for scale: a copy in, a copy out, as the layer does.
    y = x.detach().clone()
    y.add_(1.0)


for call, fn in [("forward", forward), ("forward+backward", forward_backward), ("two torch ops", plain_torch)]:
    for ordered in ["0", "1"]:
        os.environ["RNNC_TORCH_ORDERED"] = ordered
        for _ in range(5):
            fn()
        host, device = [], []
        for _ in range(7):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            start.record()
            t0 = time.perf_counter()
            for _ in range(20):
                fn()
            host.append((time.perf_counter() - t0) * 50.0)
            end.record()
            torch.cuda.synchronize()
            device.append(start.elapsed_time(end) / 20)
        line = {"call": call, "ordered": ordered, "host_ms": statistics.median(host),
                "device_ms": statistics.median(device), "device_min_ms": min(device), "device_max_ms": max(device)}
        print(json.dumps(line), flush=True)
        if out:
            out.write(json.dumps(line) + "\n")
