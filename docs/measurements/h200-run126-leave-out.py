"""H200 run 126: where the PyTorch layer's device-path time outside rnnc's
kernels and the CUDA/Vulkan switches goes, by leaving stages out (results
wrong where a stage is left out; the same tensors every call, so the work is
the same): `vk` skips the exchange's copies on Vulkan (inputs in, outputs
out, cotangents in, input gradients out; RNNC_SKIP_EXCHANGE_COPIES), `params`
the parameters' copies from the exchange (RNNC_SKIP_PARAM_COPIES), `torch`
torch's copies into the exchange and out of it (RNNC_TORCH_SKIP_FILL), `all`
the three. Knobs of h200-run126-leave-out.patch (not kept). `para_gru_mh`,
H = 1024, B = 8, newton, 10 calls back to back per timing (CUDA events),
variants interleaved, median of 7 rounds after one warm-up round.

    PYTHONPATH=/tmp/site python3 docs/measurements/h200-run126-leave-out.py [OUT.jsonl]
"""

import json
import os
import statistics
import sys

import torch

import rnnc.torch as rt

out = open(sys.argv[1], "w") if len(sys.argv) > 1 else None
KNOBS = {
    "vk": ["RNNC_SKIP_EXCHANGE_COPIES"],
    "params": ["RNNC_SKIP_PARAM_COPIES"],
    "torch": ["RNNC_TORCH_SKIP_FILL"],
}
VARIANTS = ["base", "vk", "params", "torch", "all"]


def setting(variant):
    for names in KNOBS.values():
        for name in names:
            os.environ.pop(name, None)
    for key, names in KNOBS.items():
        if variant in (key, "all"):
            for name in names:
                os.environ[name] = "1"


def timed(fn, calls=10):
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(calls):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / calls


torch.manual_seed(0)
layer = rt.Recurrent("para_gru_mh", {"H": 1024}, backend="gpu", method="newton", device_path=True).cuda()
for T, call in [(512, "forward"), (512, "forward+backward"), (2048, "forward"), (2048, "forward+backward")]:
    x = torch.randn(8, T, 1024, device="cuda", requires_grad=True)
    g = torch.randn(8, T, 1024, device="cuda")

    def fn():
        if call == "forward":
            with torch.no_grad():
                layer(x)
        else:
            layer(x).backward(g)

    setting("base")
    os.environ["RNNC_TORCH_ORDERED"] = "0"
    kernels = []
    for _ in range(3):
        timed(fn, 1)
        r = layer.last_report
        kernels.append(r["time_ms"] + (r.get("backward_ms") or 0.0))
    os.environ["RNNC_TORCH_ORDERED"] = "1"
    times = {v: [] for v in VARIANTS}
    for round in range(8):
        for v in VARIANTS:
            setting(v)
            times[v].append(timed(fn))
    setting("base")
    k = statistics.median(kernels)
    for v, values in times.items():
        values = values[1:]
        line = {"T": T, "call": call, "variant": v, "kernels_ms": k,
                "layer_ms": {"min": min(values), "median": statistics.median(values), "max": max(values)}}
        print(json.dumps(line), flush=True)
        if out:
            out.write(json.dumps(line) + "\n")
            out.flush()
