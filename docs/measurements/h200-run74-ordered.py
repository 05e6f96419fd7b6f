"""H200 run 74: the PyTorch layer's device path with rnnc's calls ordered on
the device by a timeline semaphore shared with CUDA (`RNNC_TORCH_ORDERED=1`,
the default: the host waits for neither side) against ordered through the
host (`=0`: the stream synchronised before each call, each call waiting for
its kernels). ParaGRU and ParaLSTM (`para_gru_mh`, `para_lstm_cifg_mh`),
H = 1024, B = 8, method "newton", T = 512 / 2048 / 8192.

Two timings per variant, the variants interleaved round by round, median of 7
rounds after a warm-up:
- `call`: one call timed with CUDA events, the stream synchronised before and
  after (as runs 69 to 73);
- `steady`: 10 calls back to back (a training loop's shape: nothing
  synchronises between them), CUDA events around all ten, per call.
rnnc's kernel time comes from the host-ordered variant's reports (an ordered
call's report is untimed); overhead = (layer - kernels) / layer.

    PYTHONPATH=/tmp/site python3 docs/measurements/h200-run74-ordered.py [OUT.jsonl]
"""

import json
import os
import statistics
import sys

import torch

import rnnc.torch as rt


def timed(fn, calls=1):
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(calls):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / calls


out = open(sys.argv[1], "w") if len(sys.argv) > 1 else None
variants = ["0", "1"]
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
            rows = {v: {"call": [], "steady": [], "kernels": []} for v in variants}
            for variant in rows:
                os.environ["RNNC_TORCH_ORDERED"] = variant
                for _ in range(3):
                    fn()
            for _ in range(7):
                for variant, row in rows.items():
                    os.environ["RNNC_TORCH_ORDERED"] = variant
                    row["call"].append(timed(fn))
                    r = layer.last_report
                    if variant == "0":
                        row["kernels"].append(r["time_ms"] + (r.get("backward_ms") or 0.0))
                    row["steady"].append(timed(fn, 10))
            kernels = statistics.median(rows["0"]["kernels"])
            for variant, row in rows.items():
                line = {"cell": cell, "T": T, "call": call, "ordered": variant, "kernels_ms": kernels}
                for key in ("call", "steady"):
                    median = statistics.median(row[key])
                    line[key + "_ms"] = {"min": min(row[key]), "median": median, "max": max(row[key])}
                    line[key + "_overhead"] = (median - kernels) / median
                print(json.dumps(line), flush=True)
                if out:
                    out.write(json.dumps(line) + "\n")
