#!/usr/bin/env bash
# H200 run 54: lanes per Newton workgroup for cells of two and four unknowns a
# lane (para_lstm K = 2, block_elman K = 4): at B = 1 (run 53: ParaLSTM 1 lane
# x 1024 chunks 1.18 ms against the rule's 2 x 512, 1.50) and B = 8, to choose
# the rule by lanes rather than unknowns. Committed binary, variants
# interleaved, two rounds, median of 5, resident, GPU timestamps.
# Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run54.jsonl
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
bench() { RNNC_NEWTON=$2 timeout 60 $B bench stdlib:$3 --dims $4 --batch $5 --seq $6 --methods newton --repeat 5 --resident --json | tag "$1" >> $J; }
for round in 1 2; do
  for v in "" "threads=1024,lanes=1" "threads=512,lanes=1" "threads=1024,lanes=2"; do
    bench "lstmB1 [$v]" "$v" para_lstm H=256,D=256 1 65536
    bench "elmanB1 [$v]" "$v" block_elman H=256,D=256 1 65536
  done
  for v in "" "threads=128,lanes=4" "threads=256,lanes=4" "threads=64,lanes=4"; do
    bench "lstm8192 [$v]" "$v" para_lstm H=1024,D=1024 8 8192
  done
  for v in "" "threads=256,lanes=4" "threads=512,lanes=8"; do
    bench "elman8192 [$v]" "$v" block_elman H=1024,D=1024 8 8192
  done
  for v in "" "threads=1024,lanes=1"; do
    bench "lstm_cifgB1 [$v]" "$v" para_lstm_cifg_mh H=512 1 65536
  done
done
python3 docs/measurements/summary.py "$J"
