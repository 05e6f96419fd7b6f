"""Times `rnnc.torch.Recurrent` on CUDA tensors, host path against device path,
next to rnnc's own kernel time from the same calls' reports (GPU timestamps).

For each row, the two paths are interleaved round by round; each round times
one call (forward, or forward + backward) with CUDA events around it after a
warm-up. The layer's overhead is its time minus rnnc's kernel time
(`time_ms` + `backward_ms` of the report: projection, recurrence, backward
recurrence and gradient products), as a share of the layer's time; rnnc's
host time for the calls (`wall_ms`) is printed beside it.

    python examples/python/bench_layer.py --cell para_gru_mh --T 2048 --repeats 7

Prints one JSON line per (row, path) with min / median / max, and writes them
to --out if given.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

import rnnc.torch as rt


def timed(fn) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end)


def kernel_ms(report: dict) -> float:
    return report["time_ms"] + (report.get("backward_ms") or 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="para_gru_mh")
    parser.add_argument("--H", type=int, default=1024)
    parser.add_argument("--B", type=int, default=8)
    parser.add_argument("--T", type=int, nargs="+", default=[2048])
    parser.add_argument("--method", default="auto")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup-seconds", type=float, default=1.0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    torch.manual_seed(0)
    dims = {"H": args.H} if args.cell.endswith("_mh") else {"H": args.H, "D": args.H}
    device_layer = rt.Recurrent(args.cell, dims, backend="gpu", method=args.method, device_path=True).cuda()
    host_layer = rt.Recurrent(device_layer.cell, dims, method=args.method, device_path=False).cuda()
    host_layer.load_state_dict(device_layer.state_dict())
    layers = {"host": host_layer, "device": device_layer}
    lines = []
    for steps in args.T:
        x = torch.randn(args.B, steps, args.H, device="cuda")
        cotangent = torch.randn(args.B, steps, args.H, device="cuda")

        def forward(layer):
            with torch.no_grad():
                layer(x)

        def forward_backward(layer):
            xi = x.detach().requires_grad_(True)
            layer(xi).backward(cotangent)

        for kind, call in (("forward", forward), ("forward+backward", forward_backward)):
            for layer in layers.values():  # compile, allocate, and warm the clocks up
                deadline = time.perf_counter() + args.warmup_seconds
                while time.perf_counter() < deadline:
                    call(layer)
            times = {path: [] for path in layers}
            kernels = {path: [] for path in layers}
            walls = {path: [] for path in layers}
            for _ in range(args.repeats):
                for path, layer in layers.items():
                    times[path].append(timed(lambda: call(layer)))
                    kernels[path].append(kernel_ms(layer.last_report))
                    walls[path].append(layer.last_report["wall_ms"])
            for path in layers:
                t, k = times[path], kernels[path]
                median, kernel = statistics.median(t), statistics.median(k)
                line = {
                    "cell": args.cell,
                    "H": args.H,
                    "B": args.B,
                    "T": steps,
                    "call": kind,
                    "path": path,
                    "method": layers[path].last_report["method"],
                    "layer_ms": {"min": min(t), "median": median, "max": max(t)},
                    "rnnc_kernels_ms": {"min": min(k), "median": kernel, "max": max(k)},
                    "rnnc_wall_ms": statistics.median(walls[path]),
                    "overhead_share": (median - kernel) / median,
                }
                lines.append(line)
                print(json.dumps(line), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            for line in lines:
                f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
