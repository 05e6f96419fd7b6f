"""H200 run 70: where the PyTorch layer's host time goes on the device path
(ParaGRU `para_gru_mh`, H = 1024, B = 8, T = 2048, forward + backward):
cProfile over 20 calls after a warm-up, the top functions by own time and by
cumulative time, next to the wall time of a call.

    PYTHONPATH=/tmp/site python3 docs/measurements/h200-run70-profile.py
"""

import cProfile
import pstats
import time

import torch

import rnnc.torch as rt

torch.manual_seed(0)
layer = rt.Recurrent("para_gru_mh", {"H": 1024}, backend="gpu", method="newton", device_path=True).cuda()
x = torch.randn(8, 2048, 1024, device="cuda", requires_grad=True)
g = torch.randn(8, 2048, 1024, device="cuda")


def step():
    y = layer(x)
    y.backward(g)


for _ in range(10):
    step()
torch.cuda.synchronize()
walls = []
for _ in range(20):
    t = time.perf_counter()
    step()
    torch.cuda.synchronize()
    walls.append((time.perf_counter() - t) * 1e3)
print("wall ms per forward+backward, median of 20:", sorted(walls)[10])
print("last report wall_ms / time_ms / backward_ms:", {k: layer.last_report.get(k) for k in ["wall_ms", "time_ms", "backward_ms"]})
profile = cProfile.Profile()
profile.enable()
for _ in range(20):
    step()
torch.cuda.synchronize()
profile.disable()
stats = pstats.Stats(profile)
stats.sort_stats("tottime").print_stats(25)
stats.sort_stats("cumulative").print_stats(25)
