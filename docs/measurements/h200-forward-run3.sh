#!/usr/bin/env bash
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
for cell in para_gru para_lstm; do
  for T in 512 2048 8192; do
    timeout 150 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq $T --repeat 7 --json 2>&1 | tee -a $OUT/bench.jsonl
  done
done
timeout 150 $B bench stdlib:block_elman --dims H=1024,D=1024 --batch 8 --seq 8192 --repeat 5 --json 2>&1 | tee -a $OUT/bench.jsonl
timeout 150 $B bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --repeat 5 --json 2>&1 | tee -a $OUT/bench.jsonl
timeout 100 $B bench stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq 2048 --repeat 3 2>&1 | tee $OUT/table.txt
