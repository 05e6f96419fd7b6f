#!/usr/bin/env bash
# H200 run 7: the resident runtime with one upload and one read-back buffer per
# workspace (no per-call staging allocations), and the GPU's clocks sampled every
# 20 ms while ten back-to-back forwards run. Carried: .devbin/rnnc and .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run7.jsonl
BIG="--dims H=1024,D=1024 --batch 8 --seq 8192"
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,pstate,power.draw,temperature.gpu --format=csv,noheader -lms 20 > $OUT/clocks.csv &
SMI=$!
for cell in para_gru para_lstm; do
  echo "start $cell $(date +%T.%N)" >> $OUT/marks.txt
  timeout 150 $B bench stdlib:$cell $BIG --methods newton --repeat 10 --json | tag back-to-back | tee -a $J
  echo "end $cell $(date +%T.%N)" >> $OUT/marks.txt
done
kill $SMI
for cell in para_gru para_lstm; do
  timeout 150 $B bench stdlib:$cell $BIG --methods newton,sequential --repeat 5 --backward --json | tag backward | tee -a $J
done
timeout 100 $B bench stdlib:para_gru $BIG --repeat 5 2>&1 | tee $OUT/table.txt
timeout 100 $B bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --repeat 5 --json | tag long | tee -a $J
