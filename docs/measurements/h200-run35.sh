#!/usr/bin/env bash
# H200 run 35: the projection's matrices transposed before its product (its
# operands then laid out as the input gradient's), with the product kernel's
# 8 x 32 and 8 x 33 slices interleaved: ParaGRU's dense products at
# N = D = 1024, B = 8, T = 8192 (two rounds, median of 5), and issue 13's layer
# table (para_gru_mh, para_lstm_cifg_mh at T = 512 / 2048 / 8192, forward and
# forward + backward, sequential / Newton / auto, median of 7, resident).
# Clocks sampled every 100 ms. Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run35.jsonl
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu,clocks_event_reasons.active --format=csv -lms 100 > $OUT/clocks.csv &
SMI=$!
S="stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq 8192"
for round in 1 2; do
  for g in 8x32 8x33; do
    RNNC_GEMM=$g timeout 90 $B bench $S --methods newton --repeat 5 --backward --resident --json | tag "dense $g" | tee -a $J
  done
done
for T in 512 2048 8192; do
  for cell in para_gru_mh para_lstm_cifg_mh; do
    for g in 8x32 8x33; do
      RNNC_GEMM=$g timeout 120 $B bench stdlib:$cell --dims H=1024 --batch 8 --seq $T --methods sequential,newton,auto --repeat 7 --resident --json | tag "layer-fwd $g" | tee -a $J
      RNNC_GEMM=$g timeout 120 $B bench stdlib:$cell --dims H=1024 --batch 8 --seq $T --methods sequential,newton,auto --repeat 7 --backward --resident --json | tag "layer-fwdbwd $g" | tee -a $J
    done
  done
done
kill $SMI
