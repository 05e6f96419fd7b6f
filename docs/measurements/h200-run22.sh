#!/usr/bin/env bash
# H200 run 22: the new matrix-product kernel (one GEMM for every projection and
# gradient product, 128x128 tiles, double-buffered, depth split for few tiles)
# against the previous kernels (rnnc-old = ff9d93f), interleaved; then ParaRNN's
# multi-head models (para_gru_mh, para_lstm_cifg_mh) as whole layers, forward
# (resident) and forward + backward (through the tape), T = 512 / 2048 / 8192.
# Carried: .devbin/rnnc, .devbin/rnnc-old, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run22.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.draw,temperature.gpu --format=csv | tee $OUT/gpu.txt
S="--dims H=1024,D=1024 --batch 8 --seq 8192"
for round in 1 2; do
  for b in rnnc-old rnnc; do
    timeout 120 .devbin/$b bench stdlib:para_gru $S --methods sequential --repeat 5 --resident --json | tag "gemm-fwd-$b" | tee -a $J
    timeout 120 .devbin/$b bench stdlib:para_gru $S --methods newton --repeat 3 --backward --json | tag "gemm-bwd-$b" | tee -a $J
  done
done
for T in 512 2048 8192; do
  for cell in para_gru_mh para_lstm_cifg_mh; do
    timeout 120 .devbin/rnnc bench stdlib:$cell --dims H=1024 --batch 8 --seq $T --methods sequential,newton --repeat 7 --resident --json | tag "layer-fwd-T$T" | tee -a $J
    timeout 120 .devbin/rnnc bench stdlib:$cell --dims H=1024 --batch 8 --seq $T --methods sequential,newton --repeat 5 --backward --json | tag "layer-bwd-T$T" | tee -a $J
  done
done
