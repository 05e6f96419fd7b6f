#!/usr/bin/env bash
# H200 run 75: host time against device time of the ordered device path
# (h200-run75-host.py). Carried: .whl (cp312 wheel), .gl.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
timeout 300 python3 docs/measurements/h200-run75-host.py $OUT/run75.jsonl
