#!/usr/bin/env bash
# H200 run 73: the PyTorch layer's device path with its tensors copied into
# and out of the exchange in batched calls (`torch._foreach_copy_`, the
# default) against one call each (`RNNC_TORCH_BATCHED=0`), the copy kernel on
# (h200-run71-copies.py with the knob); after the Python tests on CUDA.
# Carried: .whl (cp312 wheel), .gl.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
python3 -c "import torch; print('torch', torch.__version__)"
timeout 200 python3 -m pytest python/tests/test_exchange.py python/tests/test_torch.py -q -p no:cacheprovider -x 2>&1 | tail -3
timeout 300 python3 docs/measurements/h200-run71-copies.py $OUT/run73.jsonl RNNC_TORCH_BATCHED 0 1 | python3 -c "
import json, sys
for line in sys.stdin:
    d = json.loads(line); l = d['layer_ms']
    print(f\"{d['cell']:18s} T={d['T']:5d} {d['call']:17s} batched={d['copies']} layer {l['median']:7.3f} ({l['min']:.3f}-{l['max']:.3f}) kernels {d['kernels_ms']:7.3f} wall {d['last_wall_ms']:7.3f}\")
"
