#!/usr/bin/env bash
# H200 run 125: the layer's device path under Nsight Systems (the `nsys` that
# ships with Nsight Compute on the device), CUDA and Vulkan on one timeline.
# Carried: .whl (cp312 wheel of the build under test), .gl.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
NSYS=/opt/nvidia/nsight-compute/2025.3.1/host/target-linux-x64/nsys
$NSYS --version
timeout 200 $NSYS profile --trace=cuda,vulkan,nvtx --gpuctxsw=true --force-overwrite=true -o $OUT/run125 \
  python3 docs/measurements/h200-run125-profile.py 2>&1 | tail -5
ls -la $OUT
timeout 120 $NSYS export --type=sqlite --force-overwrite=true -o $OUT/run125.sqlite $OUT/run125.nsys-rep 2>&1 | tail -2
python3 - <<'PY'
import os, sqlite3
db = sqlite3.connect(os.environ["OUT"] + "/run125.sqlite")
tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
print(tables)
PY
