#!/usr/bin/env bash
# H200 run 11: the kernel plan in place (hoisted values computed once per step,
# one scan algebra), and three recurrence-kernel experiments switched by
# environment in one binary, interleaved: RNNC_UNROLL=1 (the Newton kernel's
# loops over a thread's steps written out), RNNC_CACHE=1 (each step's
# linearisation kept from composing to applying), RNNC_AHEAD=8|16 (the sequential
# kernel loads that many steps ahead). Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run11.jsonl
BIG="--dims H=1024,D=1024 --batch 8 --seq 8192"
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
for round in 1 2; do
  for v in base unroll cache unroll+cache; do
    case $v in
      base) E="";; unroll) E="RNNC_UNROLL=1";; cache) E="RNNC_CACHE=1";; unroll+cache) E="RNNC_UNROLL=1 RNNC_CACHE=1";;
    esac
    for cell in para_gru para_lstm; do
      env $E timeout 60 $B bench stdlib:$cell $BIG --methods newton --repeat 5 --resident --json | tag "$v" | tee -a $J
    done
    env $E timeout 60 $B bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --methods newton --repeat 5 --resident --json | tag "$v" | tee -a $J
  done
  for a in 1 8 16; do
    for cell in para_gru para_lstm; do
      RNNC_AHEAD=$a timeout 60 $B bench stdlib:$cell $BIG --methods sequential --repeat 5 --resident --json | tag "ahead$a" | tee -a $J
    done
    RNNC_AHEAD=$a timeout 60 $B bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --methods sequential --repeat 3 --resident --json | tag "ahead$a" | tee -a $J
  done
done
# Issue 10's rows on this code: ten back-to-back resident forwards; forward +
# backward through the tape; the block-projection check against float64.
timeout 120 $B bench stdlib:para_gru $BIG --methods newton --repeat 10 --resident --json | tag back-to-back-resident | tee -a $J
for cell in para_gru para_lstm; do
  timeout 150 $B bench stdlib:$cell $BIG --methods newton --repeat 5 --backward --json | tag backward | tee -a $J
done
mkdir -p /tmp/block && timeout 200 python3 docs/measurements/block_input_check.py $B /tmp/block 2>&1 | tee $OUT/checks.jsonl
