#!/usr/bin/env bash
# H200 run 57: the Newton kernel reading each step's hoisted values again from
# the raw ones at every use (`rnnc-reload`: no `pre` array in registers; the
# segment's raw values stay in L2) against keeping them in registers (`rnnc`,
# committed). Run 56 showed registers bound the kernel (24 more live
# registers: 1.13 -> 1.65 ms). Two binaries interleaved, three rounds, median
# of 5, resident, GPU timestamps. Carried: .devbin/rnnc, .devbin/rnnc-reload, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run57.jsonl
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
for round in 1 2 3; do
  for bin in rnnc rnnc-reload; do
    B=.devbin/$bin
    for T in 512 8192; do
      timeout 60 $B bench stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq $T --methods newton --repeat 5 --resident --json | tag "$bin gru T=$T" >> $J
    done
    timeout 60 $B bench stdlib:para_lstm --dims H=1024,D=1024 --batch 8 --seq 8192 --methods newton --repeat 5 --resident --json | tag "$bin lstm T=8192" >> $J
    for cell in para_gru para_lstm; do
      timeout 60 $B bench stdlib:$cell --dims H=256,D=256 --batch 1 --seq 65536 --methods newton --repeat 5 --resident --json | tag "$bin $cell B=1" >> $J
    done
  done
  RNNC_NEWTON_CHUNK=16 timeout 60 .devbin/rnnc-reload bench stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq 8192 --methods newton --repeat 5 --resident --json | tag "rnnc-reload chunk16 gru T=8192" >> $J
  RNNC_NEWTON=threads=512,lanes=8 timeout 60 .devbin/rnnc-reload bench stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq 8192 --methods newton --repeat 5 --resident --json | tag "rnnc-reload 8x64 gru T=8192" >> $J
  RNNC_NEWTON_CHUNK=16 timeout 60 .devbin/rnnc-reload bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --methods newton --repeat 5 --resident --json | tag "rnnc-reload chunk16 gru B=1" >> $J
done
python3 docs/measurements/summary.py "$J" | sort
