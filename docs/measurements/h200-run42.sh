#!/usr/bin/env bash
# H200 run 42: where the device path's overhead goes. `rnnc bench --resident`
# (no exchange: host-side parameter fingerprint, no copies) for para_gru_mh at
# T = 512 / 2048 / 8192, then docs/measurements/h200-run42-profile.py (torch's
# copies, syncs, and rnnc's calls through an exchange, timed apart).
# Carried: .gl, .whl, .devbin/rnnc (strip -o .devbin/rnnc target/release/rnnc).
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
B=.devbin/rnnc
for T in 512 2048 8192; do
  timeout 60 $B bench stdlib:para_gru_mh --dims H=1024 --batch 8 --seq $T --methods newton --repeat 7 --resident --json
  timeout 60 $B bench stdlib:para_gru_mh --dims H=1024 --batch 8 --seq $T --methods newton --repeat 7 --backward --resident --json | tee -a $OUT/resident.jsonl
done
timeout 120 python3 docs/measurements/h200-run42-profile.py | tee $OUT/profile.json
