#!/usr/bin/env bash
# H200 run 28: operands contiguous along the depth staged in 4 x 4 blocks
# transposed in registers (RNNC_GEMM=...:blocks) against element-by-element
# staging, interleaved: ParaGRU's dense projection and gradients, and the
# multi-head ParaGRU layer at T = 8192, forward and forward + backward.
# Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run28.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
S="--dims H=1024,D=1024 --batch 8 --seq 8192"
for round in 1 2; do
  for g in 8x33 8x33:blocks 16x33:blocks 8x33:blocks:nomath 16x33:blocks:nomath; do
    RNNC_GEMM=$g timeout 60 .devbin/rnnc bench stdlib:para_gru $S --methods newton --repeat 3 --backward --resident --json | tag "dense-$g" | tee -a $J
  done
  for g in 8x33 8x33:blocks 16x33:blocks; do
    RNNC_GEMM=$g timeout 60 .devbin/rnnc bench stdlib:para_gru_mh --dims H=1024 --batch 8 --seq 8192 --methods sequential,newton --repeat 5 --resident --json | tag "mh-fwd-$g" | tee -a $J
    RNNC_GEMM=$g timeout 60 .devbin/rnnc bench stdlib:para_gru_mh --dims H=1024 --batch 8 --seq 8192 --methods newton --repeat 5 --backward --resident --json | tag "mh-fwdbwd-$g" | tee -a $J
  done
done
