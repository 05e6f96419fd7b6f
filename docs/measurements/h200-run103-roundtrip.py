"""H200 run 103: where the 0.33 ms of an ordered call's round trip between
CUDA and rnnc's Vulkan queue goes (runs 82 to 85 measured it on the stream
only). For 50 empty ordered calls (`Exchange.handoff`) back to back: the
host's time per call (before synchronising), the part of it inside rnnc's
`handoff` (its empty Vulkan submission, waiting for and signalling the
shared timeline), and the stream's time per call; then the same 50 calls
queued behind a 20 ms CUDA sleep, so that the host has enqueued them all
before the stream reaches them: the stream's time per call is then the
device's alone. Median of 7 rounds (min-max).

    PYTHONPATH=/tmp/site python3 docs/measurements/h200-run103-roundtrip.py
"""

import statistics
import time

import torch

import rnnc.torch as rt

layer = rt.Recurrent("para_gru", {"H": 8, "D": 8}, backend="gpu", method="newton", device_path=True).cuda()
x = torch.randn(1, 16, 8, device="cuda", requires_grad=True)
layer(x).sum().backward()
slot = next(slot for pool in layer._exchanges.values() for slot in pool)
ex = slot.cuda
assert ex.ordered
CALLS = 50
inside = []


def handoff():
    def work(after):
        start = time.perf_counter()
        ex.exchange.handoff(after)
        inside.append(time.perf_counter() - start)

    ex.run_ordered(work)


def sleep_cycles(ms):
    # torch.cuda._sleep spins for a number of cycles; calibrate once.
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    torch.cuda._sleep(10_000_000)
    end.record()
    torch.cuda.synchronize()
    return int(10_000_000 * ms / start.elapsed_time(end))


SLEEP = sleep_cycles(20.0)


def measure(behind_sleep):
    host, stream, within = [], [], []
    for _ in range(7):
        start, after_sleep, end = (torch.cuda.Event(enable_timing=True) for _ in range(3))
        torch.cuda.synchronize()
        inside.clear()
        start.record()
        if behind_sleep:
            torch.cuda._sleep(SLEEP)
        after_sleep.record()
        t0 = time.perf_counter()
        for _ in range(CALLS):
            handoff()
        t1 = time.perf_counter()
        end.record()
        torch.cuda.synchronize()
        host.append((t1 - t0) * 1e3 / CALLS)
        stream.append(after_sleep.elapsed_time(end) / CALLS)
        within.append(statistics.median(inside) * 1e3)
    return host, stream, within


def show(name, values):
    return f"{name} {statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


for behind in (False, True, False, True):
    host, stream, within = measure(behind)
    label = "behind a 20 ms sleep" if behind else "back to back        "
    print(
        f"{label}: ms per call: {show('host', host)}, {show('in handoff', within)}, {show('stream', stream)}",
        flush=True,
    )
