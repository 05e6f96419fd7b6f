#!/usr/bin/env bash
# H200 run 71: the exchange's copies by the quad copy kernel against the
# copy command, in the PyTorch layer's device path (h200-run71-copies.py),
# after test_exchange.py on this build. Carried: .whl (cp312 wheel), .gl.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
timeout 120 python3 -m pytest python/tests/test_exchange.py -q -p no:cacheprovider -x 2>&1 | tail -3
timeout 300 python3 docs/measurements/h200-run71-copies.py $OUT/run71.jsonl | python3 -c "
import json, sys
for line in sys.stdin:
    d = json.loads(line); l = d['layer_ms']
    print(f\"{d['cell']:18s} T={d['T']:5d} {d['call']:17s} {d['copies']:8s} layer {l['median']:7.3f} ({l['min']:.3f}-{l['max']:.3f}) kernels {d['kernels_ms']:7.3f} wall {d['last_wall_ms']:7.3f}\")
"
