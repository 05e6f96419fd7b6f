"""Prints one line per variant of an `rnnc bench --backward --json` log whose
lines carry a "variant" tag (the h200-run59.sh to -run62.sh scripts): each
round's projection, weight-gradient and input-gradient products, recurrence
and forward + backward (ms)."""
import collections
import json
import sys

rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    d = json.loads(line)
    rows[d["variant"]].append(d)
for variant, ds in sorted(rows.items()):
    f = lambda key: " ".join(f"{d[key]:.3f}" for d in ds if d.get(key) is not None)
    print(
        f"{variant:30s} proj {f('projection_ms')}  wgrad {f('weight_gradients_ms')}  "
        f"igrad {f('input_gradients_ms')}  rec {f('recurrence_ms')}  fwdbwd {f('fwd_bwd_ms')}"
    )
