#!/usr/bin/env bash
# H200 run 58: a cell whose gates read an MLP of the input
# (docs/measurements/mlp_input.rnn, N = D = 1024, B = 8) before the staged
# pre-pass (`rnnc-main`: one lane holding the whole state, so the sequential
# method, one thread a sequence) and after it (`rnnc`: the MLP's products
# planned over B x T before the recurrence, the cell in lanes with Newton).
# Median of 5 (3 for the old binary), resident, GPU timestamps.
# Carried: .devbin/rnnc, .devbin/rnnc-main, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run58.jsonl
C=docs/measurements/mlp_input.rnn
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
timeout 200 .devbin/rnnc-main bench $C --dims H=1024,D=1024 --batch 8 --seq 512 --methods auto --repeat 3 --resident --json | tag "before T=512 fwd" >> $J
for T in 512 2048 8192; do
  timeout 60 .devbin/rnnc bench $C --dims H=1024,D=1024 --batch 8 --seq $T --methods sequential,newton,auto --repeat 5 --resident --json | tag "after T=$T fwd" >> $J
  timeout 90 .devbin/rnnc bench $C --dims H=1024,D=1024 --batch 8 --seq $T --methods newton --repeat 5 --backward --resident --json | tag "after T=$T fwd+bwd" >> $J
done
python3 - "$J" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    print(d["variant"], d["method"], "time", round(d["time_ms"], 3), "proj", d.get("projection_ms") and round(d["projection_ms"], 3),
          "rec", d.get("recurrence_ms") and round(d["recurrence_ms"], 3), "fwd+bwd", d.get("fwd_bwd_ms") and round(d["fwd_bwd_ms"], 3),
          "bwd", d.get("backward_ms") and round(d["backward_ms"], 3), "its", d["iterations"], "fb", d["fallback_segments"], d["method_reason"][:50])
PY
