#!/usr/bin/env bash
# H200 run 10: the projection kernel with 128 x 128 tiles and 8 x 8 blocks per
# thread (.devbin/rnnc) against the 64 x 64, 4 x 4 one (.devbin/rnnc-p64, the same
# code otherwise), interleaved, data resident. Carried: .devbin, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run10.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
for round in 1 2; do
  for B in .devbin/rnnc-p64 .devbin/rnnc; do
    for cell in para_gru para_lstm; do
      timeout 120 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq 8192 --methods newton --repeat 5 --resident --json | tag "$(basename $B)" | tee -a $J
    done
  done
done
timeout 120 .devbin/rnnc bench stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq 512 --methods newton,sequential --repeat 5 --resident --json | tag rnnc | tee -a $J
