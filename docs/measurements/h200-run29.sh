#!/usr/bin/env bash
# H200 run 29: what `--method auto` picks for ParaRNN's multi-head models, for
# a forward and (with the backward in its cost model) for forward + backward,
# against both methods, data resident, T = 512 / 2048 / 8192.
# Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run29.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
for T in 512 2048 8192; do
  for cell in para_gru_mh para_lstm_cifg_mh; do
    timeout 120 .devbin/rnnc bench stdlib:$cell --dims H=1024 --batch 8 --seq $T --methods sequential,newton,auto --repeat 5 --resident --json | tag "fwd-T$T" | tee -a $J
    timeout 120 .devbin/rnnc bench stdlib:$cell --dims H=1024 --batch 8 --seq $T --methods sequential,newton,auto --repeat 5 --backward --resident --json | tag "fwdbwd-T$T" | tee -a $J
  done
done
