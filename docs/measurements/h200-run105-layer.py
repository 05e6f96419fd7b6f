"""H200 run 105: the PyTorch layer's device path (ordered calls), ParaGRU
(`para_gru_mh`, H = 1024, B = 8, T = 2048, method "newton"), forward +
backward, 10 calls back to back timed by CUDA events (per call), median of 7
rounds (min-max), under whatever `RNNC_QUEUE_PRIORITY` the process has.

    PYTHONPATH=/tmp/site RNNC_QUEUE_PRIORITY=high python3 docs/measurements/h200-run105-layer.py
"""

import os
import statistics

import torch

import rnnc.torch as rt

torch.manual_seed(0)
layer = rt.Recurrent("para_gru_mh", {"H": 1024}, backend="gpu", method="newton", device_path=True).cuda()
x = torch.randn(8, 2048, 1024, device="cuda", requires_grad=True)
g = torch.randn(8, 2048, 1024, device="cuda")


def steady():
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(10):
        layer(x).backward(g)
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 10


steady()
times = [steady() for _ in range(7)]
priority = os.environ.get("RNNC_QUEUE_PRIORITY", "default") or "default"
print(f"priority {priority:8s} layer forward + backward {statistics.median(times):.3f} ms per call "
      f"({min(times):.3f}-{max(times):.3f})", flush=True)
