#!/usr/bin/env bash
# H200 run 38: the products' 16-byte loads of aligned operands (QUADS) against
# the same kernels reading words (`:scalar`), interleaved, two rounds, median of
# 5 (ParaGRU's dense products and para_gru_mh forward + backward at
# N = D = 1024, B = 8, T = 8192); a Newton shape for B = 1, N = 256,
# T = 65536; sLSTM and minLSTM (linear: one scan) at N = 1024, B = 8,
# T = 8192, sequential / Newton / auto. Resident. Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run38.jsonl
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
S="stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq 8192"
for round in 1 2; do
  for g in 8x32 8x32:scalar; do
    RNNC_GEMM=$g timeout 90 $B bench $S --methods newton --repeat 5 --backward --resident --json | tag "dense $g" | tee -a $J
    RNNC_GEMM=$g timeout 90 $B bench stdlib:para_gru_mh --dims H=1024 --batch 8 --seq 8192 --methods newton --repeat 5 --backward --resident --json | tag "mh $g" | tee -a $J
  done
  RNNC_NEWTON=lanes=2,threads=1024 RNNC_NEWTON_CHUNK=16 timeout 60 $B bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --methods newton --repeat 5 --resident --json | tag "b1 l2 t1024 n16" | tee -a $J
  timeout 60 $B bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --methods newton --repeat 5 --resident --json | tag "b1 default" | tee -a $J
done
for cell in slstm minlstm; do
  timeout 120 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq 8192 --methods sequential,newton,auto --repeat 5 --resident --json | tag "$cell" | tee -a $J
done
