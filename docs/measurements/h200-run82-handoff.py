"""H200 run 82: what ordering by the shared timeline costs on the device: the
CUDA stream's time (CUDA events) across an ordered call with no work
(`Exchange.handoff`: CUDA signals, an empty Vulkan submission waits for it
and signals back, CUDA waits), across CUDA signalling and waiting for a value alone (run 83), across
ordered tiny forwards and backwards
(para_gru, H = D = 8, B = 1, T = 16), and across nothing; 50 of each back to
back, per call, median of 7 rounds.

    PYTHONPATH=/tmp/site python3 docs/measurements/h200-run82-handoff.py
"""

import statistics

import torch

import rnnc.cuda
import rnnc.torch as rt

layer = rt.Recurrent("para_gru", {"H": 8, "D": 8}, backend="gpu", method="newton", device_path=True).cuda()
x = torch.randn(1, 16, 8, device="cuda", requires_grad=True)
layer(x).sum().backward()
slot = next(slot for pool in layer._exchanges.values() for slot in pool)
ex = slot.cuda
assert ex.ordered


def per_call(fn, calls=50):
    times = []
    for _ in range(7):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        for _ in range(calls):
            fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / calls)
    return statistics.median(times), min(times), max(times)


def cuda_alone():
    # CUDA signals the next value and waits for it itself: the semaphore
    # operations without Vulkan.
    import ctypes

    driver = rnnc.cuda._cuda()
    stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
    ex._timeline += 1
    signal = rnnc.cuda._SignalParams()
    signal.params.fence.value = ex._timeline
    wait = rnnc.cuda._WaitParams()
    wait.params.fence.value = ex._timeline
    driver.cuSignalExternalSemaphoresAsync(ctypes.byref(ex._semaphore), ctypes.byref(signal), 1, stream)
    driver.cuWaitExternalSemaphoresAsync(ctypes.byref(ex._semaphore), ctypes.byref(wait), 1, stream)


def forward_then_backward():
    ex.run_ordered(lambda after: ex.exchange.forward(keep=True, method="newton", after=after))
    ex.run_ordered(lambda after: ex.exchange.backward(after=after))


for name, fn in [
    ("nothing", lambda: None),
    ("CUDA signals and waits alone", cuda_alone),
    ("handoff (empty ordered call)", lambda: ex.run_ordered(lambda after: ex.exchange.handoff(after))),
    ("ordered forward", lambda: ex.run_ordered(lambda after: ex.exchange.forward(method="newton", after=after))),
    ("ordered forward + backward", forward_then_backward),
]:
    median, low, high = per_call(fn)
    print(f"{name:30s} {median:7.3f} ms per call ({low:.3f}-{high:.3f})", flush=True)
