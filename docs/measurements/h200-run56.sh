#!/usr/bin/env bash
# H200 run 56: the Newton kernel loading each segment's raw values while the
# segment before iterates (`rnnc-prefetch`) against loading them at the
# segment's start (`rnnc`, committed). Two binaries interleaved, three rounds,
# median of 5, resident, GPU timestamps. Carried: .devbin/rnnc,
# .devbin/rnnc-prefetch, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run56.jsonl
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
for round in 1 2 3; do
  for bin in rnnc rnnc-prefetch; do
    B=.devbin/$bin
    for T in 512 2048 8192; do
      timeout 60 $B bench stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq $T --methods newton --repeat 5 --resident --json | tag "$bin gru T=$T" >> $J
    done
    timeout 60 $B bench stdlib:para_lstm --dims H=1024,D=1024 --batch 8 --seq 8192 --methods newton --repeat 5 --resident --json | tag "$bin lstm T=8192" >> $J
    for cell in para_gru para_lstm block_elman; do
      timeout 60 $B bench stdlib:$cell --dims H=256,D=256 --batch 1 --seq 65536 --methods newton --repeat 5 --resident --json | tag "$bin $cell B=1" >> $J
    done
  done
done
python3 docs/measurements/summary.py "$J" | sort
