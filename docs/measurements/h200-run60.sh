#!/usr/bin/env bash
# H200 run 60: how far a long weight gradient's depth is split (`:splitN`, the
# workgroups it is split towards; 512 is run 59's) with run 59's kernel
# (exact, 16-byte loads), on ParaGRU's dense products and para_gru_mh's
# grouped ones at T = 8192, and para_gru_mh's at T = 512 and 2048 (N = D =
# 1024, B = 8). Two rounds interleaved, median of 5, resident.
# Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run60.jsonl
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu --format=csv -lms 200 > $OUT/clocks.csv &
SMI=$!
for round in 1 2; do
  for g in 8x32 8x32:split1024 8x32:split2048 8x32:split4096 8x32:split8192; do
    RNNC_GEMM=$g timeout 90 $B bench stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq 8192 --methods newton --repeat 5 --backward --resident --json | tag "dense T8192 $g" >> $J
    for T in 512 2048 8192; do
      RNNC_GEMM=$g timeout 90 $B bench stdlib:para_gru_mh --dims H=1024 --batch 8 --seq $T --methods newton --repeat 5 --backward --resident --json | tag "heads T$T $g" >> $J
    done
  done
done
kill $SMI
python3 docs/measurements/summary_products.py "$J"
