"""H200 run 124: issue 16's table on the current build. The PyTorch layer
(`rnnc.torch.Recurrent`) on CUDA tensors, ParaGRU and ParaLSTM
(`para_gru_mh`, `para_lstm_cifg_mh`), H = 1024, B = 8, method "newton",
T = 512 / 2048 / 8192, forward (under `torch.no_grad()`) and forward +
backward, three ways interleaved round by round:
- `host`: the host-copy path (`device_path=False`: tensors through host memory);
- `device`: the device path, calls ordered on the device (the default);
- `host-ordered`: the device path synchronised through the host
  (`RNNC_TORCH_ORDERED=0`), whose reports give rnnc's own kernel time.
Each timing is 10 calls back to back (a training loop's shape) timed by CUDA
events, per call (3 for the host path at T = 8192); median of 7 rounds
(min-max); overhead = (layer - kernels) / layer. Also the empty ordered
call's round trip (50 calls, `Exchange.handoff`).

    PYTHONPATH=/tmp/site python3 docs/measurements/h200-run124-layer.py [OUT.jsonl]
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


for cell in ["para_gru_mh", "para_lstm_cifg_mh"]:
    torch.manual_seed(0)
    device = rt.Recurrent(cell, {"H": 1024}, backend="gpu", method="newton", device_path=True).cuda()
    host = rt.Recurrent(cell, {"H": 1024}, backend="gpu", method="newton", device_path=False).cuda()
    host.load_state_dict(device.state_dict())
    if cell == "para_gru_mh":
        ex = None
        x = torch.randn(1, 16, 1024, device="cuda", requires_grad=True)
        device(x).sum().backward()
        ex = next(slot for pool in device._exchanges.values() for slot in pool).cuda
        handoff = [timed(lambda: ex.run_ordered(lambda after: ex.exchange.handoff(after)), 50) for _ in range(7)]
        emit({"part": "handoff", "stream_ms_per_call": stats(handoff)})
    for T in [512, 2048, 8192]:
        x = torch.randn(8, T, 1024, device="cuda", requires_grad=True)
        g = torch.randn(8, T, 1024, device="cuda")
        for call in ["forward", "forward+backward"]:
            def run(layer):
                if call == "forward":
                    with torch.no_grad():
                        layer(x)
                else:
                    layer(x).backward(g)

            ways = {"host": host, "device": device, "host-ordered": device}
            times = {w: [] for w in ways}
            kernels = []
            for _ in range(8):
                for way, layer in ways.items():
                    os.environ["RNNC_TORCH_ORDERED"] = "0" if way == "host-ordered" else "1"
                    calls = 3 if (way == "host" and T == 8192) else 10
                    times[way].append(timed(lambda: run(layer), calls))
                    if way == "host-ordered":
                        timed(lambda: run(layer), 1)
                        r = layer.last_report
                        kernels.append(r["time_ms"] + (r.get("backward_ms") or 0.0))
            k = statistics.median(kernels[1:])
            for way, values in times.items():
                values = values[1:]  # the first round warms up
                median = statistics.median(values)
                emit({"cell": cell, "T": T, "call": call, "way": way, "kernels_ms": k, "layer_ms": stats(values),
                      "overhead": (median - k) / median})
