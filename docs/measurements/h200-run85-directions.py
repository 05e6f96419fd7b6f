"""H200 run 85: which direction of the CUDA/Vulkan round trip (run 82: 0.32
ms an empty ordered call) costs. An empty ordered call (`Exchange.handoff`)
three ways, each timed by CUDA events on the stream, 50 calls, median of 7:
- as run 82: CUDA signals `v`, rnnc submits a wait for `v` (not yet
  signalled when submitted: CUDA's stream has queued work) and a signal of
  `v + 1`, CUDA waits for `v + 1`;
- presignalled: the host waits for CUDA's stream after it signals `v`, so
  that rnnc's submission finds `v` signalled; events from after that wait;
- host-waited: as presignalled, and the host also waits until the timeline
  reaches `v + 1` (through CUDA's stream synchronisation) before the event.

    PYTHONPATH=/tmp/site python3 docs/measurements/h200-run85-directions.py
"""

import ctypes
import statistics

import torch

import rnnc.cuda
import rnnc.torch as rt

layer = rt.Recurrent("para_gru", {"H": 8, "D": 8}, backend="gpu", method="newton", device_path=True).cuda()
x = torch.randn(1, 16, 8, device="cuda", requires_grad=True)
layer(x).sum().backward()
ex = next(slot for pool in layer._exchanges.values() for slot in pool).cuda
driver = rnnc.cuda._cuda()


def signal(value):
    params = rnnc.cuda._SignalParams()
    params.params.fence.value = value
    stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
    driver.cuSignalExternalSemaphoresAsync(ctypes.byref(ex._semaphore), ctypes.byref(params), 1, stream)


def wait(value):
    params = rnnc.cuda._WaitParams()
    params.params.fence.value = value
    stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
    driver.cuWaitExternalSemaphoresAsync(ctypes.byref(ex._semaphore), ctypes.byref(params), 1, stream)


def one(mode):
    v = ex._timeline + 1
    ex._timeline = v + 1
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    if mode == "as run 82":
        start.record()
        signal(v)
    else:
        signal(v)
        torch.cuda.synchronize()
        start.record()
    ex.exchange.handoff(v)
    wait(v + 1)
    if mode == "host-waited":
        torch.cuda.synchronize()
    end.record()
    return start, end


for mode in ["as run 82", "presignalled", "host-waited"]:
    medians = []
    for _ in range(7):
        pairs = [one(mode) for _ in range(50)]
        torch.cuda.synchronize()
        medians.append(statistics.median(a.elapsed_time(b) for a, b in pairs))
    print(f"{mode:14s} {statistics.median(medians):7.3f} ms per handoff ({min(medians):.3f}-{max(medians):.3f})", flush=True)
