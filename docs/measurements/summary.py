"""Prints one line per (variant, method) of an `rnnc bench --json` log whose
lines carry a "variant" tag (the h200-run5N.sh scripts): the recurrence's
medians in order, the iterations, and the segments that fell back."""
import collections
import json
import sys

rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    d = json.loads(line)
    rows[(d["variant"], d["method"])].append(d)
for (variant, method), ds in rows.items():
    times = " ".join(f"{d['recurrence_ms']:.3f}" for d in ds)
    falls = sum(d["fallback_segments"] for d in ds)
    print(f"{variant:38s} {method:10s} rec {times}  its {[d['iterations'] for d in ds]} fb {falls}")
