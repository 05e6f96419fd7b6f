#!/usr/bin/env bash
# H200 run 13: the sequential kernel with the raw values of the next eight steps
# loaded ahead in registers (RNNC_AHEAD=8; each step's hoisted values computed
# when it is taken) against the plain loop (RNNC_AHEAD=1); the Newton kernel
# with each step's linearisation kept and vector parameters read once per
# thread (RNNC_CACHE=1 RNNC_LANE_PARAMS=1), at chunk lengths 4, 8 and 16
# (RNNC_NEWTON_CHUNK). One binary, interleaved. Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run13.jsonl
BIG="--dims H=1024,D=1024 --batch 8"
LONG="--dims H=256,D=256 --batch 1 --seq 65536"
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
for round in 1 2; do
  for a in 1 8; do
    for cell in para_gru para_lstm; do
      RNNC_AHEAD=$a timeout 60 $B bench stdlib:$cell $BIG --seq 8192 --methods sequential --repeat 5 --resident --json | tag "ahead$a" | tee -a $J
    done
    RNNC_AHEAD=$a timeout 60 $B bench stdlib:para_gru $LONG --methods sequential --repeat 3 --resident --json | tag "ahead$a" | tee -a $J
  done
  for n in 4 8 16; do
    for cell in para_gru para_lstm; do
      for T in 512 2048 8192; do
        RNNC_CACHE=1 RNNC_LANE_PARAMS=1 RNNC_NEWTON_CHUNK=$n timeout 60 $B bench stdlib:$cell $BIG --seq $T --methods newton --repeat 5 --resident --json | tag "chunk$n" | tee -a $J
      done
    done
    RNNC_CACHE=1 RNNC_LANE_PARAMS=1 RNNC_NEWTON_CHUNK=$n timeout 60 $B bench stdlib:para_gru $LONG --methods newton --repeat 5 --resident --json | tag "chunk$n" | tee -a $J
    RNNC_CACHE=1 RNNC_LANE_PARAMS=1 RNNC_NEWTON_CHUNK=$n timeout 60 $B bench stdlib:block_elman $BIG --seq 8192 --methods newton --repeat 3 --resident --json | tag "chunk$n" | tee -a $J
  done
done
