"""H200 run 75: is the ordered device path (run 74) bound by the host or by
the device? ParaGRU and ParaLSTM, H = 1024, B = 8, method "newton": 10 calls
back to back (nothing synchronised between them), the host's time to issue
them (perf_counter from the first call to the tenth's return) against the
device's (CUDA events around all ten), per call; median of 7 rounds.

    PYTHONPATH=/tmp/site python3 docs/measurements/h200-run75-host.py [OUT.jsonl]
"""

import json
import statistics
import sys
import time

import torch

import rnnc.torch as rt

out = open(sys.argv[1], "w") if len(sys.argv) > 1 else None
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
            for _ in range(3):
                fn()
            host, device = [], []
            for _ in range(7):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                torch.cuda.synchronize()
                start.record()
                t0 = time.perf_counter()
                for _ in range(10):
                    fn()
                host.append((time.perf_counter() - t0) * 100.0)
                end.record()
                torch.cuda.synchronize()
                device.append(start.elapsed_time(end) / 10)
            line = {"cell": cell, "T": T, "call": call,
                    "host_ms": statistics.median(host), "device_ms": statistics.median(device),
                    "device_min_ms": min(device), "device_max_ms": max(device)}
            print(json.dumps(line), flush=True)
            if out:
                out.write(json.dumps(line) + "\n")
