#!/usr/bin/env bash
# H200 run 59: the product kernel without bounds tests for products of whole
# tiles and slices (`GemmLayout::exact`, the default), with 16-byte loads of
# operands read along their depth too (off: `:depthwords`), against run 39's
# kernel (`:inexact`), in 8- and 16-deep, padded and unpadded shapes, and
# ablations. ParaGRU's dense products (N = D = 1024, B = 8, T = 8192: 412 GFLOP
# each) and para_gru_mh's grouped ones (206 GFLOP each); two rounds
# interleaved, median of 5, resident. Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run59.jsonl
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu --format=csv -lms 200 > $OUT/clocks.csv &
SMI=$!
dense="stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq 8192"
heads="stdlib:para_gru_mh --dims H=1024 --batch 8 --seq 8192"
for round in 1 2; do
  for g in 8x32 8x32:inexact 8x32:depthwords 8x33 16x32 16x33 16x32:depthwords; do
    RNNC_GEMM=$g timeout 90 $B bench $dense --methods newton --repeat 5 --backward --resident --json | tag "dense $g" >> $J
    RNNC_GEMM=$g timeout 90 $B bench $heads --methods newton --repeat 5 --backward --resident --json | tag "heads $g" >> $J
  done
done
for g in 8x32:noloads 8x32:nomath 16x32:noloads 16x32:nomath; do
  RNNC_GEMM=$g timeout 90 $B bench $dense --methods newton --repeat 5 --backward --resident --json | tag "dense $g" >> $J
done
kill $SMI
python3 docs/measurements/summary_products.py "$J"
