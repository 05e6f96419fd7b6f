#!/usr/bin/env bash
# H200 run 70: a Python profile of the PyTorch layer's device path
# (h200-run70-profile.py). Carried: .whl (cp312 wheel), .gl.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
timeout 200 python3 docs/measurements/h200-run70-profile.py 2>&1 | tee $OUT/profile.txt
