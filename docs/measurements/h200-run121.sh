#!/usr/bin/env bash
# H200 run 121: the hand-off between CUDA and Vulkan by semaphore, by a word
# waited for in memory, or by words both ways (h200-run121-handoff.py).
# Built with h200-run121-122-handoff.patch applied (the RNNC_HANDOFF and
# RNNC_QUEUE_FAMILY knobs, not kept). Carried: .whl (the cp312 wheel: `cd python && maturin build --release
# --interpreter /root/.pyenv/versions/3.12.1/bin/python3.12 -o ../.whl`), .gl.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv
timeout 400 python3 docs/measurements/h200-run121-handoff.py $OUT/h200-run121.jsonl 2>&1 | tail -60
