#!/usr/bin/env bash
# H200 run 122: the hand-off between CUDA and Vulkan from wgpu's queue
# family (0: graphics and compute) against a compute-only family
# (RNNC_QUEUE_FAMILY=compute), by semaphore and by a word in memory;
# the layer at T = 2048. Each family in its own process, alternated twice.
# Built with h200-run121-122-handoff.patch applied (the RNNC_HANDOFF and
# RNNC_QUEUE_FAMILY knobs, not kept). Carried: .whl (the cp312 wheel: `cd python && maturin build --release
# --interpreter /root/.pyenv/versions/3.12.1/bin/python3.12 -o ../.whl`), .gl.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
export MODES=semaphore,flag STEPS=2048
for round in 1 2; do
  for family in default compute; do
    RNNC_QUEUE_FAMILY=$family timeout 150 python3 docs/measurements/h200-run121-handoff.py $OUT/h200-run122.jsonl 2>&1 | grep -v '^{"family"' | tail -5
  done
done
python3 - <<'PY'
import json, os, collections
rows = collections.defaultdict(list)
for line in open(os.environ["OUT"] + "/h200-run122.jsonl"):
    r = json.loads(line)
    if r["part"] == "handoff":
        rows[(r["family"], "handoff", r["mode"])].append(r["stream_ms_per_call"]["median"])
    elif r["part"] == "layer":
        rows[(r["family"], r["call"], r["mode"])].append((r["steady_ms"]["median"], r["kernels_ms"], r["overhead"]))
    else:
        print(r)
for k, v in sorted(rows.items()):
    print(k, v)
PY
