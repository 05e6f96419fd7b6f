#!/usr/bin/env bash
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm --format=csv | tee $OUT/gpu.txt
for cell in para_gru para_lstm; do
  timeout 240 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq 8192 --repeat 5 --backward --json 2>&1 | tee -a $OUT/backward.jsonl
  timeout 120 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq 8192 --repeat 5 --json 2>&1 | tee -a $OUT/forward.jsonl
done
timeout 100 $B bench stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq 8192 --repeat 3 --backward 2>&1 | tee $OUT/table.txt
