#!/usr/bin/env bash
# H200 run 68: as run 67, the fused guess written as a pass before the loop
# (the guess linearises and composes steps after each chunk's first; the
# first iteration linearises only a chunk's first step) instead of a pass of
# the segment loop; against `RNNC_NEWTON=fused=0` (the committed kernel's
# code). Two rounds interleaved, median of 5, resident, GPU timestamps.
# The variant is not committed: apply h200-run68-fused-guess.patch (newton.wgsl;
# the knob `fused` as in h200-run67-fused-guess.patch's mod.rs) to build it.
# Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run68.jsonl
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
for round in 1 2; do
  for k in "fused=0" ""; do
    for cell in para_gru para_lstm; do
      RNNC_NEWTON=$k timeout 90 $B bench stdlib:$cell --dims H=256,D=256 --batch 1 --seq 65536 --methods newton --repeat 5 --resident --json | tag "b1 $cell $k" >> $J
      for T in 2048 8192; do
        RNNC_NEWTON=$k timeout 90 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq $T --methods newton --repeat 5 --resident --json | tag "b8 T$T $cell $k" >> $J
      done
    done
    for cell in minlstm block_elman; do
      RNNC_NEWTON=$k timeout 90 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq 8192 --methods newton --repeat 5 --resident --json 2>/dev/null | tag "b8 T8192 $cell $k" >> $J
    done
  done
done
python3 docs/measurements/summary.py $J | sort
