"""H200 run 79: how long the host spends in each call of the ordered device
path (ParaGRU, tiny and H = 1024 / B = 8 / T = 2048, forward + backward):
CUDA's semaphore calls, rnnc's calls, and the torch side between them.

    PYTHONPATH=/tmp/site python3 docs/measurements/h200-run79-calls.py
"""

import collections
import statistics
import time

import torch

import rnnc
import rnnc.cuda
import rnnc.torch as rt

spent = collections.defaultdict(list)
driver = rnnc.cuda._cuda()


def timed(name, fn):
    def call(*args):
        t = time.perf_counter()
        result = fn(*args)
        spent[name].append((time.perf_counter() - t) * 1e3)
        return result

    return call


for name in ["cuSignalExternalSemaphoresAsync", "cuWaitExternalSemaphoresAsync"]:
    setattr(driver, name, timed(name, getattr(driver, name)))
ordered = rnnc.cuda.CudaExchange.run_ordered
rnnc.cuda.CudaExchange.run_ordered = lambda self, work: timed("run_ordered", ordered)(self, timed("rnnc call", work))
settle = rt.Recurrent._settle
rt.Recurrent._settle = lambda self: timed("_settle (report)", settle)(self)
rt._fill_all = timed("_fill_all", rt._fill_all)
rt._copies_out = timed("_copies_out", rt._copies_out)

for cell, dims, shape in [("para_gru", {"H": 8, "D": 8}, (1, 16, 8)), ("para_gru_mh", {"H": 1024}, (8, 2048, 1024))]:
    layer = rt.Recurrent(cell, dims, backend="gpu", method="newton", device_path=True).cuda()
    x = torch.randn(*shape, device="cuda", requires_grad=True)
    g = torch.randn(*shape, device="cuda")
    for _ in range(5):
        layer(x).backward(g)
    torch.cuda.synchronize()
    spent.clear()
    steps = []
    for _ in range(20):
        t = time.perf_counter()
        layer(x).backward(g)
        steps.append((time.perf_counter() - t) * 1e3)
    torch.cuda.synchronize()
    print(f"{cell} {shape}: host per step {statistics.median(steps):.3f} ms")
    for name, values in spent.items():
        print(f"  {name:34s} calls/step {len(values) / 20:4.1f}  median {statistics.median(values):8.3f} ms  max {max(values):8.3f}")
