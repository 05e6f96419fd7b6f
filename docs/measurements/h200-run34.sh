#!/usr/bin/env bash
# H200 run 34: the matrix-product kernel specialised per operand layout at
# compile time (GemmLayout) against the one that tests the layout at run time
# (`:generic`), interleaved, two rounds, median of 5, resident: ParaGRU's dense
# products (projection, weight and input gradients, 412 GFLOP each) at
# N = D = 1024, B = 8, T = 8192, with ablations; para_gru_mh's forward layer.
# Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run34.jsonl
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
S="stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq 8192"
for round in 1 2; do
  for g in 8x33 8x33:generic 16x33 16x33:generic 8x32 8x33:noloads 8x33:generic:noloads 16x33:noloads 8x33:nomath; do
    RNNC_GEMM=$g timeout 90 $B bench $S --methods newton --repeat 5 --backward --resident --json | tag "dense $g" | tee -a $J
  done
  for g in 8x33 8x33:generic 16x33; do
    RNNC_GEMM=$g timeout 90 $B bench stdlib:para_gru_mh --dims H=1024 --batch 8 --seq 8192 --methods newton --repeat 5 --backward --resident --json | tag "mh $g" | tee -a $J
  done
done
