#!/usr/bin/env bash
# H200 run 61: exact product kernels that touch one word of each thread's
# loads two slices ahead (`:prefetch`), so that the next slice's loads find
# their lines in the cache, with the new split target (2048 workgroups) and
# run 59's (`:split512`). ParaGRU's dense products at T = 8192 and
# para_gru_mh's grouped ones at T = 512 / 2048 / 8192 (N = D = 1024, B = 8).
# Two rounds interleaved, median of 5, resident. Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run61.jsonl
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu --format=csv -lms 200 > $OUT/clocks.csv &
SMI=$!
for round in 1 2; do
  for g in 8x32 8x32:prefetch 8x32:split512 8x32:split512:prefetch 16x32:prefetch; do
    RNNC_GEMM=$g timeout 90 $B bench stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq 8192 --methods newton --repeat 5 --backward --resident --json | tag "dense T8192 $g" >> $J
    for T in 512 2048 8192; do
      RNNC_GEMM=$g timeout 90 $B bench stdlib:para_gru_mh --dims H=1024 --batch 8 --seq $T --methods newton --repeat 5 --backward --resident --json | tag "heads T$T $g" >> $J
    done
  done
done
kill $SMI
python3 docs/measurements/summary_products.py "$J"
