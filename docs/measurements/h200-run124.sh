#!/usr/bin/env bash
# H200 run 124: issue 16's table on the current build (h200-run124-layer.py).
# Carried: .whl (the cp312 wheel: `cd python && maturin build --release
# --interpreter /root/.pyenv/versions/3.12.1/bin/python3.12 -o ../.whl`), .gl.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 500 python3 docs/measurements/h200-run124-layer.py $OUT/h200-run124.jsonl 2>&1 | grep -v Warning
