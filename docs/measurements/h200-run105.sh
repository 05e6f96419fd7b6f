#!/usr/bin/env bash
# H200 run 105: rnnc's Vulkan queue at each global priority
# (`RNNC_QUEUE_PRIORITY`, VK_KHR_global_priority): the round trip of an empty
# ordered call (h200-run103-roundtrip.py) and the PyTorch layer at T = 2048
# (h200-run105-layer.py), each setting its own process, interleaved, two rounds.
# Carried: .whl (the cp312 wheel of bb52548 with h200-run105-queue-priority.patch applied), .gl.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
vulkaninfo 2>/dev/null | grep -i global_priority | head -3
for round in 1 2; do
  for p in "" high realtime low; do
    echo "== round $round priority ${p:-default}"
    RNNC_QUEUE_PRIORITY=$p timeout 60 python3 docs/measurements/h200-run103-roundtrip.py 2>&1 | tail -2
    RNNC_QUEUE_PRIORITY=$p timeout 90 python3 docs/measurements/h200-run105-layer.py 2>&1 | tail -1
  done
done
