#!/usr/bin/env bash
# H200 run 17: the sequential kernel with a stage left out or done twice (a
# temporary RNNC_SEQ_VARIANT, removed after the run): 0 as is; 1 no output
# stores but the last; 2 each step computed twice (the second kept only under a
# runtime-false condition, so the chain doubles); 3 no per-step loads (every step
# reads the first step's values). Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run17.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
for round in 1 2; do
  for v in 0 1 2 3; do
    for cell in para_gru para_lstm; do
      RNNC_SEQ_VARIANT=$v timeout 60 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq 8192 --methods sequential --repeat 3 --resident --json | tag "variant$v" | tee -a $J
    done
    RNNC_SEQ_VARIANT=$v timeout 60 $B bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --methods sequential --repeat 3 --resident --json | tag "variant$v" | tee -a $J
  done
done
