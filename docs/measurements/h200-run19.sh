#!/usr/bin/env bash
# H200 run 19: the software-pipelined sequential kernel (temporary
# RNNC_SEQ_VARIANT=4) with groups of 16 and 32 steps, and the Newton kernel's
# initial guess loading all its steps' raw values before hoisting and stepping
# them (RNNC_SEQ_VARIANT=5), against the plain kernels (0). Carried: .devbin, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run19.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
for round in 1 2; do
  for v in "RNNC_SEQ_VARIANT=0" "RNNC_SEQ_VARIANT=4 RNNC_SEQ_GROUP=16" "RNNC_SEQ_VARIANT=4 RNNC_SEQ_GROUP=32"; do
    for cell in para_gru para_lstm; do
      env $v timeout 60 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq 8192 --methods sequential --repeat 3 --resident --json | tag "$v" | tee -a $J
    done
    env $v timeout 60 $B bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --methods sequential --repeat 3 --resident --json | tag "$v" | tee -a $J
  done
  for v in "RNNC_SEQ_VARIANT=0" "RNNC_SEQ_VARIANT=5"; do
    for cell in para_gru para_lstm; do
      env $v timeout 60 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq 8192 --methods newton --repeat 3 --resident --json | tag "$v" | tee -a $J
    done
    env $v timeout 60 $B bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --methods newton --repeat 3 --resident --json | tag "$v" | tee -a $J
  done
done
