#!/usr/bin/env bash
# H200 run 18: the sequential kernel software-pipelined (a temporary
# RNNC_SEQ_VARIANT=4: two groups of G = RNNC_SEQ_GROUP steps' raw values, one
# group's loads issued while the other's steps are taken) against the plain loop
# (RNNC_SEQ_VARIANT=0). Run 17 showed the plain loop waiting on each step's loads.
# Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run18.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
for round in 1 2; do
  for v in "RNNC_SEQ_VARIANT=0" "RNNC_SEQ_VARIANT=4 RNNC_SEQ_GROUP=4" "RNNC_SEQ_VARIANT=4 RNNC_SEQ_GROUP=8" "RNNC_SEQ_VARIANT=4 RNNC_SEQ_GROUP=16"; do
    for cell in para_gru para_lstm block_elman; do
      env $v timeout 60 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq 8192 --methods sequential --repeat 3 --resident --json | tag "$v" | tee -a $J
    done
    env $v timeout 60 $B bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --methods sequential --repeat 3 --resident --json | tag "$v" | tee -a $J
    env $v timeout 60 $B bench stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq 512 --methods sequential --repeat 3 --resident --json | tag "$v" | tee -a $J
  done
done
