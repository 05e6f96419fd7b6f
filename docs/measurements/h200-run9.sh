#!/usr/bin/env bash
# H200 run 9: the final state of this session's work (shared scan rounds, the
# hardening merged): resident rows, ten back-to-back resident forwards, forward +
# backward through the tape, the block-projection check. Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run9.jsonl
BIG="--dims H=1024,D=1024 --batch 8 --seq 8192"
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
for cell in para_gru para_lstm; do
  timeout 150 $B bench stdlib:$cell $BIG --methods newton --repeat 10 --resident --json | tag back-to-back-resident | tee -a $J
  timeout 150 $B bench stdlib:$cell $BIG --repeat 5 --resident --json | tag resident | tee -a $J
done
timeout 150 $B bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --repeat 5 --resident --json | tag resident | tee -a $J
timeout 150 $B bench stdlib:block_elman $BIG --repeat 3 --resident --json | tag resident | tee -a $J
for cell in para_gru para_lstm; do
  timeout 150 $B bench stdlib:$cell $BIG --methods newton,sequential --repeat 5 --backward --json | tag backward | tee -a $J
done
mkdir -p /tmp/block && timeout 200 python3 docs/measurements/block_input_check.py $B /tmp/block 2>&1 | tee $OUT/checks.jsonl
timeout 100 $B bench stdlib:para_gru $BIG --repeat 5 --resident 2>&1 | tee $OUT/table.txt
