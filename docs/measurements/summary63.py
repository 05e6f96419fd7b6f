"""Prints one line per bench line of run 63's log (`h200-run63.jsonl`): its
tag, cell, sizes, method (and what was asked), the median time with min and
max, and the parts: projection, recurrence (GB/s), reverse scan, weight and
input gradients, forward + backward."""
import json
import sys


def f(value):
    return "-" if value is None else f"{value:.3f}"


for line in open(sys.argv[1]):
    d = json.loads(line)
    dims = ",".join(d["dims"])
    print(
        f"{d['run']:18s} {d['cell']:18s} {dims:14s} B={d['batch']} T={d['seq']:<6d} {d['method']:10s} "
        f"({d['requested']:10s}) time {f(d['time_ms'])} [{f(d['time_ms_min'])}-{f(d['time_ms_max'])}] "
        f"proj {f(d.get('projection_ms'))} rec {f(d.get('recurrence_ms'))} ({d.get('recurrence_gb_per_s') or 0:.0f} GB/s) "
        f"its {d['iterations']} scan {f(d.get('backward_scan_ms'))} wgrad {f(d.get('weight_gradients_ms'))} "
        f"igrad {f(d.get('input_gradients_ms'))} fwdbwd {f(d.get('fwd_bwd_ms'))} "
        f"[{f(d.get('fwd_bwd_ms_min'))}-{f(d.get('fwd_bwd_ms_max'))}] fb {d['fallback_segments']}"
    )
