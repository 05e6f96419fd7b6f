#!/usr/bin/env bash
# H200 run 126: the layer's overhead by stages left out (h200-run126-leave-out.py),
# built with h200-run126-leave-out.patch applied (knobs not kept).
# Carried: .whl (cp312 wheel of that build), .gl.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
timeout 300 python3 docs/measurements/h200-run126-leave-out.py $OUT/h200-run126.jsonl 2>&1 | grep -v Warning
