#!/usr/bin/env bash
# H200 run 14: the lane program written out element by element with constant
# indices (the default) against loops over each value's elements
# (RNNC_NO_UNROLL=1), Newton with RNNC_CACHE=1 RNNC_LANE_PARAMS=1 at chunk
# lengths 8 and 16, and the sequential kernel. One binary, interleaved.
# Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run14.jsonl
BIG="--dims H=1024,D=1024 --batch 8 --seq 8192"
LONG="--dims H=256,D=256 --batch 1 --seq 65536"
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
export RNNC_CACHE=1 RNNC_LANE_PARAMS=1
for round in 1 2; do
  for u in unrolled loops; do
    E=""; [ $u = loops ] && E="RNNC_NO_UNROLL=1"
    for n in 8 16; do
      for cell in para_gru para_lstm block_elman; do
        env $E RNNC_NEWTON_CHUNK=$n timeout 60 $B bench stdlib:$cell $BIG --methods newton --repeat 3 --resident --json | tag "$u-chunk$n" | tee -a $J
      done
      env $E RNNC_NEWTON_CHUNK=$n timeout 60 $B bench stdlib:para_gru $LONG --methods newton --repeat 3 --resident --json | tag "$u-chunk$n" | tee -a $J
    done
    for cell in para_gru para_lstm; do
      env $E timeout 60 $B bench stdlib:$cell $BIG --methods sequential --repeat 3 --resident --json | tag "$u" | tee -a $J
    done
    env $E timeout 60 $B bench stdlib:para_gru $LONG --methods sequential --repeat 3 --resident --json | tag "$u" | tee -a $J
  done
done
