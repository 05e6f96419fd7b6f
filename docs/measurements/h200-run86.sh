#!/usr/bin/env bash
# H200 run 86 (the code after run 81: one submission a call; otherwise as run 74): calls ordered on the device by a timeline semaphore shared
# between rnnc's Vulkan queue and CUDA's stream (the host waits for neither)
# against host-ordered calls, in the PyTorch layer's device path; after the
# exchange's Rust test (the timeline path runs only where the driver exports
# semaphores) and the Python tests on CUDA.
# Carried: .devbin/exchange (tests/exchange.rs, release, stripped), .whl (cp312 wheel), .gl.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
mkdir -p /work && ln -sfn "$PWD" /work/main
timeout 120 .devbin/exchange --test-threads 1 2>&1 | tail -4
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
timeout 200 python3 -m pytest python/tests/test_exchange.py python/tests/test_torch.py -q -p no:cacheprovider -x 2>&1 | tail -15
timeout 420 python3 docs/measurements/h200-run74-ordered.py $OUT/run86.jsonl | python3 -c "
import json, sys
for line in sys.stdin:
    d = json.loads(line); c = d['call_ms']; s = d['steady_ms']
    print(f\"{d['cell']:18s} T={d['T']:5d} {d['call']:17s} ordered={d['ordered']} call {c['median']:7.3f} ({c['min']:.3f}-{c['max']:.3f}) {d['call_overhead']*100:4.0f}%  steady {s['median']:7.3f} ({s['min']:.3f}-{s['max']:.3f}) {d['steady_overhead']*100:4.0f}%  kernels {d['kernels_ms']:7.3f}\")
"
