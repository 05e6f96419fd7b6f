#!/usr/bin/env bash
# H200 run 23: where the matrix-product kernel's time goes (RNNC_GEMM shapes
# and ablations: noloads multiplies the first slice again and again, nomath
# loads and stages without multiplying), on ParaGRU's dense projection
# (65536 x 1024 by 1024 x 3072, 412 GFLOP) and its gradient products; the GEMM
# test on the H200; the multi-head models forward + backward with every tensor
# resident (bench --backward --resident), T = 512 / 2048 / 8192.
# Carried: .devbin/rnnc, .devbin/gpu_gemm, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run23.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
.devbin/gpu_gemm 2>&1 | tail -8 | tee $OUT/gpu_gemm.txt
S="--dims H=1024,D=1024 --batch 8 --seq 8192"
for round in 1 2; do
  for g in 16x33 16x32 8x33 8x32 16x33:noloads 16x33:nomath 8x33:noloads 8x33:nomath; do
    RNNC_GEMM=$g timeout 60 .devbin/rnnc bench stdlib:para_gru $S --methods sequential --repeat 3 --resident --json | tag "gemm-$g" | tee -a $J
  done
  for g in 16x33 8x33 16x33:noloads 16x33:nomath; do
    RNNC_GEMM=$g timeout 60 .devbin/rnnc bench stdlib:para_gru $S --methods newton --repeat 3 --backward --resident --json | tag "gemm-bwd-$g" | tee -a $J
  done
done
for T in 512 2048 8192; do
  for cell in para_gru_mh para_lstm_cifg_mh; do
    timeout 120 .devbin/rnnc bench stdlib:$cell --dims H=1024 --batch 8 --seq $T --methods sequential,newton --repeat 7 --backward --resident --json | tag "layer-fwdbwd-T$T" | tee -a $J
  done
done
