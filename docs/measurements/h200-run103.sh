#!/usr/bin/env bash
# H200 run 103: an ordered call's round trip between CUDA and Vulkan, host
# against device (h200-run103-roundtrip.py).
# Carried: .whl (the cp312 wheel of 2161624: `cd python && maturin build
# --release --interpreter /root/.pyenv/versions/3.12.1/bin/python3.12 -o ../.whl`), .gl.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
timeout 240 python3 docs/measurements/h200-run103-roundtrip.py 2>&1 | tee $OUT/run103.txt
