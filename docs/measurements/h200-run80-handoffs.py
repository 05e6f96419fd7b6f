"""H200 run 80: where the ordered device path's time goes on the device
(ParaGRU, tiny and H = 1024 / B = 8 / T = 2048, forward + backward): CUDA
events on the stream around each ordered rnnc call (from before CUDA signals
the timeline to after it waits for rnnc's value: rnnc's Vulkan work and the
two handoffs) and around torch's copies into and out of the exchange; rnnc's
own GPU timestamps from host-ordered calls (`RNNC_TORCH_ORDERED=0`) for
comparison.

    PYTHONPATH=/tmp/site python3 docs/measurements/h200-run80-handoffs.py
"""

import collections
import os
import statistics

import torch

import rnnc.cuda
import rnnc.torch as rt

events = collections.defaultdict(list)


def evented(name, fn):
    def call(*args):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        result = fn(*args)
        end.record()
        events[name].append((start, end))
        return result

    return call


ordered = rnnc.cuda.CudaExchange.run_ordered
calls = iter(())


def run_ordered(self, work):
    return evented(next(calls), ordered)(self, work)


rnnc.cuda.CudaExchange.run_ordered = run_ordered
fill, out = rt._fill_all, rt._copies_out
rt._fill_all = lambda pairs: evented("torch copies in", fill)(pairs)
rt._copies_out = lambda tensors, kinds: evented("torch copies out (gradients)", out)(tensors, kinds)

for cell, dims, shape in [("para_gru", {"H": 8, "D": 8}, (1, 16, 8)), ("para_gru_mh", {"H": 1024}, (8, 2048, 1024))]:
    layer = rt.Recurrent(cell, dims, backend="gpu", method="newton", device_path=True).cuda()
    x = torch.randn(*shape, device="cuda", requires_grad=True)
    g = torch.randn(*shape, device="cuda")
    os.environ["RNNC_TORCH_ORDERED"] = "0"
    kernels = []
    for _ in range(7):
        layer(x).backward(g)
        r = layer.last_report
        kernels.append((r["time_ms"], r["backward_ms"], r["wall_ms"]))
    os.environ["RNNC_TORCH_ORDERED"] = "1"
    calls = iter(["rnnc forward, ordered"] * 1000)
    for _ in range(5):
        layer(x).backward(g)
    torch.cuda.synchronize()
    events.clear()
    calls = iter(["rnnc forward, ordered", "rnnc backward, ordered"] * 20)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(20):
        layer(x).backward(g)
    end.record()
    torch.cuda.synchronize()
    print(f"{cell} {shape}: device per step {start.elapsed_time(end) / 20:.3f} ms; host-ordered reports: "
          f"forward kernels {statistics.median(k[0] for k in kernels):.3f} ms, backward {statistics.median(k[1] for k in kernels):.3f}")
    for name, pairs in events.items():
        times = [a.elapsed_time(b) for a, b in pairs]
        print(f"  {name:32s} per step {len(times) / 20:3.1f}  median {statistics.median(times):7.3f} ms  min {min(times):7.3f}  max {max(times):7.3f}")
