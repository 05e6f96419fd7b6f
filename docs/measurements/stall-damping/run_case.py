#!/usr/bin/env python3
"""Runs one case: `rnnc run --method sequential` once (the reference), then
`rnnc run --method newton` REPEAT times per variant of RNNC_STALL_DAMPING, on
the CPU; prints and appends to RESULTS one JSON line per variant with the
report's fields, the least wall_ms / time_ms over the repeats, and the max abs
difference of the outputs from the sequential ones.

usage: run_case.py RNNC CELL DATA_DIR LABEL RESULTS REPEAT VARIANTS [-- extra rnnc run args]
"""
import glob, json, os, subprocess, sys, time
import numpy as np

rnnc, cell, data, label, results, repeat, variants = sys.argv[1:8]
extra = sys.argv[9:] if len(sys.argv) > 8 and sys.argv[8] == "--" else []
repeat = int(repeat)
inputs = []
for path in sorted(glob.glob(os.path.join(data, "*.npy"))):
    name = os.path.basename(path)[:-4]
    if name.startswith("init_"):
        inputs += ["--init", f"{name[5:]}={path}"]
    elif not name.startswith("out_"):
        inputs += ["--input", f"{name}={path}"]

def run(method, variant, tag):
    out = os.path.join(data, f"out_{tag}.npy")
    rep = os.path.join(data, f"report_{tag}.json")
    cmd = [rnnc, "run", cell, "--params", os.path.join(data, "params.safetensors")] + inputs + [
        "--out", out, "--backend", "cpu", "--method", method, "--report", rep] + extra
    env = dict(os.environ, RNNC_STALL_DAMPING=variant)
    t0 = time.time()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr}")
    with open(rep) as f:
        report = json.load(f)
    with open(os.path.join(data, f"stderr_{tag}.txt"), "w") as f:
        f.write(p.stderr)
    return report, np.load(out), time.time() - t0, p.stderr.strip(), cmd

def outcomes(stderr):
    """Per-segment outcome counts from the RNNC_STALL_TRACE lines (last run)."""
    import collections, re
    counts = collections.Counter()
    for line in stderr.splitlines():
        m = re.search(r": (\w+) after (\d+) iterations \((\d+) damped\)", line)
        if m:
            counts[f"{m.group(1)} {m.group(2)}it/{m.group(3)}d"] += 1
    return dict(sorted(counts.items()))

ref_report, ref, _, _, cmd = run("sequential", "off", "sequential")
print("reference:", " ".join(cmd), f"time_ms={ref_report['time_ms']:.1f}", flush=True)
for variant in variants.split(","):
    reports, outs = [], []
    for r in range(repeat):
        report, out, secs, stderr, cmd = run("newton", variant, f"newton_{variant}")
        reports.append(report)
        outs.append(out)
    diff = float(np.max(np.abs(outs[0].astype(np.float64) - ref)))
    same = all(np.array_equal(o, outs[0], equal_nan=True) for o in outs)
    r0 = reports[0]
    line = {
        "case": label, "variant": variant, "method": r0["method"],
        "segments": r0["segments"], "fallback_segments": r0["fallback_segments"],
        "iterations": r0["iterations"], "damped_iterations": r0["damped_iterations"],
        "converged": r0["converged"], "residual": r0["residual"],
        "wall_ms_min": min(r["wall_ms"] for r in reports), "time_ms_min": min(r["time_ms"] for r in reports),
        "wall_ms_all": [round(r["wall_ms"], 1) for r in reports],
        "repeats": repeat, "repeats_identical": same,
        "sequential_time_ms": ref_report["time_ms"], "max_abs_diff_vs_sequential": diff,
        "non_finite": r0.get("non_finite"), "stderr": stderr[:400],
        "segment_outcomes": outcomes(stderr),
        "command": f"RNNC_STALL_DAMPING={variant} " + " ".join(cmd),
    }
    print(json.dumps({k: v for k, v in line.items() if k not in ("command", "stderr")}), flush=True)
    with open(results, "a") as f:
        f.write(json.dumps(line) + "\n")
