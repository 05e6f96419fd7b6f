#!/usr/bin/env bash
# H200 run 37: the committed code after runs 31-36 (Newton workgroup shapes,
# products with compile-time layouts, transposed projection matrices and
# fragments read ahead). Issue 12's table (sequential, Newton and auto
# interleaved, median of 5, resident; the reverse scan from forward + backward
# through the tape), the small-batch rows of the block-diagonal cells, and
# issue 13's layer table (para_gru_mh, para_lstm_cifg_mh, median of 7,
# resident) with ParaGRU's dense products. Clocks sampled every 100 ms.
# Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run37.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu,clocks_event_reasons.active --format=csv -lms 100 > $OUT/clocks.csv &
SMI=$!
for cell in para_gru para_lstm; do
  for T in 512 2048 8192; do
    timeout 60 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq $T --methods sequential,newton,auto --repeat 5 --resident --json | tag recurrence | tee -a $J
  done
  timeout 120 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq 8192 --methods newton --repeat 5 --backward --resident --json | tag reverse-scan | tee -a $J
done
timeout 60 $B bench stdlib:block_elman --dims H=1024,D=1024 --batch 8 --seq 8192 --methods sequential,newton,auto --repeat 5 --resident --json | tag recurrence | tee -a $J
for cell in para_gru para_lstm block_elman; do
  timeout 90 $B bench stdlib:$cell --dims H=256,D=256 --batch 1 --seq 65536 --methods sequential,newton,auto --repeat 5 --resident --json | tag small-batch | tee -a $J
done
for T in 512 2048 8192; do
  for cell in para_gru_mh para_lstm_cifg_mh; do
    timeout 120 $B bench stdlib:$cell --dims H=1024 --batch 8 --seq $T --methods sequential,newton,auto --repeat 7 --resident --json | tag "layer-fwd-T$T" | tee -a $J
    timeout 120 $B bench stdlib:$cell --dims H=1024 --batch 8 --seq $T --methods sequential,newton,auto --repeat 7 --backward --resident --json | tag "layer-fwdbwd-T$T" | tee -a $J
  done
done
kill $SMI
