#!/usr/bin/env bash
# H200 run 72 (a variant, not kept: h200-run72-zero-kernel.patch builds it):
# as run 71, with the backward's accumulators zeroed by the quad
# zero kernel too (`RNNC_EXCHANGE_COPY=command`: the copy and clear commands
# for both); first the GPU suites whose backward passes and exchanges this
# touches. Carried: .whl (cp312 wheel), .devbin/{gpu_backward,pararnn_models}, .gl.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
mkdir -p /work && [ -e /work/main ] || ln -s "$PWD" /work/main
for t in gpu_backward pararnn_models; do
  timeout 200 .devbin/$t --test-threads=1 2>&1 | grep -E "^test |test result|panicked|left|right" | sed "s/^/$t: /"
done | tee $OUT/tests.txt
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
timeout 120 python3 -m pytest python/tests/test_exchange.py -q -p no:cacheprovider -x 2>&1 | tail -3
timeout 300 python3 docs/measurements/h200-run71-copies.py $OUT/run72.jsonl | python3 -c "
import json, sys
for line in sys.stdin:
    d = json.loads(line); l = d['layer_ms']
    print(f\"{d['cell']:18s} T={d['T']:5d} {d['call']:17s} {d['copies']:8s} layer {l['median']:7.3f} ({l['min']:.3f}-{l['max']:.3f}) kernels {d['kernels_ms']:7.3f} wall {d['last_wall_ms']:7.3f}\")
"
