#!/usr/bin/env bash
# H200 run 64: Newton's initial guess chained through each chunk's steps from
# the segment's start state (`RNNC_NEWTON=chained=1`) against every step from
# it (the default), at B = 1 (N = 256, T = 65536: 4 iterations by default) and
# B = 8 (N = 1024, T = 8192). Two rounds interleaved, median of 5, resident.
# Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run64.jsonl
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
for round in 1 2; do
  for k in "" "chained=1"; do
    for cell in para_gru para_lstm block_elman; do
      RNNC_NEWTON=$k timeout 90 $B bench stdlib:$cell --dims H=256,D=256 --batch 1 --seq 65536 --methods newton --repeat 5 --resident --json | tag "b1 $cell $k" >> $J
    done
    for cell in para_gru para_lstm; do
      RNNC_NEWTON=$k timeout 90 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq 8192 --methods newton --repeat 5 --resident --json | tag "b8 $cell $k" >> $J
    done
  done
done
python3 docs/measurements/summary.py $J
