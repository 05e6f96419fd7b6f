"""H200 run 42: where the device path's overhead goes, for para_gru_mh at
H = 1024, B = 8, T = 2048 (an exchange imported into CUDA, as the torch
layer's device path uses it). Each figure is the median of 10 after a warm-up:
CUDA events around torch's copies, wall clock (with the stream synchronised
before and after) around rnnc's calls, next to the reports' own GPU kernel
times and host wall times.

    PYTHONPATH=/tmp/site python3 docs/measurements/h200-run42-profile.py
"""

import json
import statistics
import time

import torch

import rnnc
import rnnc.cuda

B, T, H = 8, 2048, 1024
cell = rnnc.stdlib("para_gru_mh", backend="gpu")
ex = rnnc.cuda.CudaExchange(cell.exchange({"H": H}, B, T, export=True), 0)
torch.manual_seed(0)
for name, shape in cell.param_shapes({"H": H}).items():
    ex.tensor(f"param.{name}").copy_(torch.rand(shape, device="cuda") * 0.1)
x = torch.randn(B, T, H, device="cuda")
ex.tensor("input.x").copy_(x)
ex.tensor("dout.h").copy_(torch.randn(B, T, H, device="cuda"))
y = torch.empty_like(x)


def events(fn, n=10):
    times = []
    for _ in range(n):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def wall(fn, n=10):
    times = []
    for _ in range(n):
        torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


reports = []


def forward():
    reports.append(ex.exchange.forward(method="newton"))


def forward_backward():
    ex.exchange.forward(method="newton", keep=True)
    reports.append(ex.exchange.backward())


result = {}
for _ in range(20):
    forward()
result["torch_copy_into_exchange_ms"] = events(lambda: ex.tensor("input.x").copy_(x))
result["torch_copy_plain_ms"] = events(lambda: y.copy_(x))
result["torch_clone_from_exchange_ms"] = events(lambda: ex.tensor("output.h").clone())
result["torch_stream_sync_ms"] = wall(lambda: torch.cuda.current_stream().synchronize())
reports.clear()
result["rnnc_forward_wall_ms"] = wall(forward)
result["rnnc_forward_report_wall_ms"] = statistics.median(r["wall_ms"] for r in reports)
result["rnnc_forward_kernels_ms"] = statistics.median(r["time_ms"] for r in reports)
result["torch_copy_then_rnnc_forward_wall_ms"] = wall(lambda: (ex.tensor("input.x").copy_(x), ex.run(forward)))
reports.clear()
for _ in range(5):
    forward_backward()
reports.clear()
result["rnnc_forward_backward_wall_ms"] = wall(forward_backward)
result["rnnc_forward_backward_report_wall_ms"] = statistics.median(r["wall_ms"] for r in reports)
result["rnnc_forward_backward_kernels_ms"] = statistics.median(r["time_ms"] + r["backward_ms"] for r in reports)
print(json.dumps(result, indent=1))
