#!/usr/bin/env bash
# H200 run 76: the fixed cost of a call of the device path, tiny cell
# (h200-run76-tiny.py). Carried: .whl (cp312 wheel), .gl.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
timeout 300 python3 docs/measurements/h200-run76-tiny.py $OUT/run76.jsonl
