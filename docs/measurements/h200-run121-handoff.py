"""H200 run 121: the hand-off between CUDA's stream and rnnc's Vulkan queue
by three means (`RNNC_HANDOFF`, read at each ordered call):
(Built with h200-run121-122-handoff.patch applied; the knobs were not kept.)
- `semaphore`: the shared timeline semaphore both ways (runs 74 to 105);
- `flag`: CUDA signals the timeline, rnnc's submission waits for it, and
  ends by writing its value into a word of the exchange, which the stream
  waits for in memory (`cuStreamWaitValue32`);
- `spin`: both ways by words: the stream writes its value
  (`cuStreamWriteValue32`), rnnc's first kernel spins until it is there, and
  the end as in `flag`.
Part 1: 50 empty ordered calls (`Exchange.handoff`) back to back, the
stream's time per call (CUDA events), and a CUDA-only baseline (the stream
writing a word and waiting for it). Part 2: the PyTorch layer (`para_gru_mh`,
H = 1024, B = 8, method "newton") at T = 512 and 2048, forward and forward +
backward, 10 calls back to back per timing, the modes and the host-ordered
path (`RNNC_TORCH_ORDERED=0`, whose reports give rnnc's kernel time)
interleaved round by round, median of 7 rounds (min-max); the outputs and
gradients of every mode compared with the host-ordered path's.

    PYTHONPATH=/tmp/site [MODES=semaphore,flag] [STEPS=2048] [RNNC_QUEUE_FAMILY=compute] \
        python3 docs/measurements/h200-run121-handoff.py [OUT.jsonl]

Run 121 (all three modes) ran past its time limit in the `spin` mode's
forward + backward: `spin` is not worth finishing (part 1). Run 122 runs the
other two on the default queue family and on a compute-only one
(`RNNC_QUEUE_FAMILY=compute`), each in its own process, twice.
"""

import ctypes
import json
import os
import statistics
import sys

import torch

import rnnc.cuda as rc
import rnnc.torch as rt

MODES = os.environ.get("MODES", "semaphore,flag,spin").split(",")
STEPS = [int(t) for t in os.environ.get("STEPS", "512,2048").split(",")]
FAMILY = os.environ.get("RNNC_QUEUE_FAMILY", "default")
out = open(sys.argv[1], "a") if len(sys.argv) > 1 else None


def emit(line):
    line = {"family": FAMILY, **line}
    print(json.dumps(line), flush=True)
    if out:
        out.write(json.dumps(line) + "\n")
        out.flush()


def timed(fn, calls=1):
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(calls):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / calls


def stats(values):
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


# Part 1: empty hand-offs.
small = rt.Recurrent("para_gru", {"H": 8, "D": 8}, backend="gpu", method="newton", device_path=True).cuda()
xs = torch.randn(1, 16, 8, device="cuda", requires_grad=True)
small(xs).sum().backward()
ex = next(slot for pool in small._exchanges.values() for slot in pool).cuda
assert ex.ordered and ex.exchange.flags_offset is not None
driver = rc._cuda()
word = torch.zeros(64, dtype=torch.int32, device="cuda")


def cuda_only():
    stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
    cuda_only.value += 1
    addr = ctypes.c_ulonglong(word.data_ptr())
    assert driver.cuStreamWriteValue32_v2(stream, addr, ctypes.c_uint(cuda_only.value), 0) == 0
    assert driver.cuStreamWaitValue32_v2(stream, addr, ctypes.c_uint(cuda_only.value), 1) == 0


cuda_only.value = 0


def handoff():
    ex.run_ordered(lambda after: ex.exchange.handoff(after))


rows = {m: [] for m in MODES + ["cuda-only"]}
for _ in range(7):
    for mode in MODES + ["cuda-only"]:
        os.environ["RNNC_HANDOFF"] = mode if mode != "cuda-only" else "semaphore"
        fn = cuda_only if mode == "cuda-only" else handoff
        timed(fn, 5)
        rows[mode].append(timed(fn, 50))
for mode, values in rows.items():
    emit({"part": "handoff", "mode": mode, "stream_ms_per_call": stats(values)})

# Part 2: the layer.
torch.manual_seed(0)
layer = rt.Recurrent("para_gru_mh", {"H": 1024}, backend="gpu", method="newton", device_path=True).cuda()
for T in STEPS:
    x = torch.randn(8, T, 1024, device="cuda", requires_grad=True)
    g = torch.randn(8, T, 1024, device="cuda")

    def forward():
        with torch.no_grad():
            return layer(x)

    def forward_backward():
        layer.zero_grad(set_to_none=True)
        x.grad = None
        layer(x).backward(g)

    # The same results whatever the hand-off.
    reference = None
    for variant in ["host"] + MODES:
        os.environ["RNNC_TORCH_ORDERED"] = "0" if variant == "host" else "1"
        os.environ["RNNC_HANDOFF"] = "semaphore" if variant == "host" else variant
        y = forward().clone()
        forward_backward()
        grads = [x.grad.clone()] + [p.grad.clone() for p in layer.parameters()]
        torch.cuda.synchronize()
        if reference is None:
            reference = (y, grads)
        else:
            same = bool(torch.equal(y, reference[0])) and all(torch.equal(a, b) for a, b in zip(grads, reference[1]))
            emit({"part": "check", "T": T, "mode": variant, "same_as_host_ordered": same})
    for call, fn in [("forward", forward), ("forward+backward", forward_backward)]:
        times = {v: [] for v in ["host"] + MODES}
        kernels = []
        for _ in range(7):
            for variant in times:
                os.environ["RNNC_TORCH_ORDERED"] = "0" if variant == "host" else "1"
                os.environ["RNNC_HANDOFF"] = "semaphore" if variant == "host" else variant
                timed(fn, 2)
                if variant == "host":
                    timed(fn)
                    r = layer.last_report
                    kernels.append(r["time_ms"] + (r.get("backward_ms") or 0.0))
                times[variant].append(timed(fn, 10))
        k = statistics.median(kernels)
        for variant, values in times.items():
            median = statistics.median(values)
            emit({"part": "layer", "T": T, "call": call, "mode": variant, "kernels_ms": k,
                  "steady_ms": stats(values), "overhead": (median - k) / median})
