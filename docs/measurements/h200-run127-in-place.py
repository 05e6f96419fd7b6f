"""H200 run 127: the PyTorch layer's device path with the exchange's inputs,
outputs and cotangents bound in place by the kernels (the default) against
copied into and out of the kernels' own buffers (`RNNC_EXCHANGE_IN_PLACE=0`,
the build before). `para_gru_mh` and `para_lstm_cifg_mh`, H = 1024, B = 8,
method "newton", T = 512 / 2048 / 8192, forward and forward + backward, 10
calls back to back per timing (CUDA events, per call), the two interleaved
round by round with the host-ordered path (`RNNC_TORCH_ORDERED=0`, in place;
its reports give rnnc's kernel time), median of 7 rounds after a warm-up
round (min-max). First, each model's outputs and gradients both ways,
compared bitwise.

    PYTHONPATH=/tmp/site [WARM_UP=1] python3 docs/measurements/h200-run127-in-place.py [OUT.jsonl]
"""

import json
import os
import statistics
import sys

import torch

import rnnc.torch as rt

out = open(sys.argv[1], "w") if len(sys.argv) > 1 else None


def emit(line):
    print(json.dumps(line), flush=True)
    if out:
        out.write(json.dumps(line) + "\n")
        out.flush()


def timed(fn, calls):
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(calls):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / calls


def stats(values):
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


# Run 127: no call between a switch of way and its timing, so the copies'
# first call after the in-place ones (re)allocated the workspace's input,
# output and cotangent buffers inside the timing; run 128 makes one untimed
# call first (WARM_UP=1).
WARM_UP = int(os.environ.get("WARM_UP", "0"))
WAYS = {"in-place": ("1", "1"), "copies": ("1", "0"), "host-ordered": ("0", "1")}


def setting(way):
    ordered, in_place = WAYS[way]
    os.environ["RNNC_TORCH_ORDERED"] = ordered
    os.environ["RNNC_EXCHANGE_IN_PLACE"] = in_place


for cell in ["para_gru_mh", "para_lstm_cifg_mh"]:
    torch.manual_seed(0)
    layer = rt.Recurrent(cell, {"H": 1024}, backend="gpu", method="newton", device_path=True).cuda()
    for T in [512, 2048, 8192]:
        x = torch.randn(8, T, 1024, device="cuda", requires_grad=True)
        g = torch.randn(8, T, 1024, device="cuda")
        results = {}
        for way in ["copies", "in-place"]:
            setting(way)
            layer.zero_grad(set_to_none=True)
            x.grad = None
            y = layer(x)
            y.backward(g)
            results[way] = [y.detach().clone(), x.grad.clone()] + [p.grad.clone() for p in layer.parameters()]
        same = all(torch.equal(a, b) for a, b in zip(results["copies"], results["in-place"]))
        emit({"cell": cell, "T": T, "check": "in place equals copies bitwise", "same": same})
        for call in ["forward", "forward+backward"]:
            def run():
                if call == "forward":
                    with torch.no_grad():
                        layer(x)
                else:
                    layer(x).backward(g)

            times = {w: [] for w in WAYS}
            kernels = []
            for _ in range(8):
                for way in WAYS:
                    setting(way)
                    if WARM_UP:  # a switch of way (re)allocates the workspace's buffers
                        timed(run, WARM_UP)
                    times[way].append(timed(run, 10))
                    if way == "host-ordered":
                        timed(run, 1)
                        r = layer.last_report
                        kernels.append(r["time_ms"] + (r.get("backward_ms") or 0.0))
            k = statistics.median(kernels[1:])
            for way, values in times.items():
                values = values[1:]
                median = statistics.median(values)
                emit({"cell": cell, "T": T, "call": call, "way": way, "kernels_ms": k, "layer_ms": stats(values),
                      "overhead": (median - k) / median})
