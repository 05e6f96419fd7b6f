#!/usr/bin/env bash
# H200 run 52: sigmoid with one division (`r = 1 / (1 + e)`, then `e r` or
# `r`) against two (`e / (1 + e)` and `1 / (1 + e)` under a select), two
# binaries interleaved, three rounds, median of 5 each, data resident, GPU
# timestamps; and two chunk lengths at B = 1. Carried: .devbin/rnnc,
# .devbin/rnnc-sig1, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run52.jsonl
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu --format=csv -lms 200 > $OUT/clocks.csv &
SMI=$!
for round in 1 2 3; do
  for bin in rnnc rnnc-sig1; do
    B=.devbin/$bin
    timeout 60 $B bench stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq 8192 --methods sequential,newton --repeat 5 --resident --json | tag "$bin gru8192" >> $J
    timeout 60 $B bench stdlib:para_lstm --dims H=1024,D=1024 --batch 8 --seq 8192 --methods sequential,newton --repeat 5 --resident --json | tag "$bin lstm8192" >> $J
    timeout 60 $B bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --methods sequential,newton --repeat 5 --resident --json | tag "$bin gruB1" >> $J
  done
  RNNC_NEWTON_CHUNK=4 timeout 60 .devbin/rnnc bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --methods newton --repeat 5 --resident --json | tag "rnnc gruB1 chunk4" >> $J
  RNNC_NEWTON_CHUNK=16 RNNC_NEWTON=threads=1024,lanes=4 timeout 60 .devbin/rnnc bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --methods newton --repeat 5 --resident --json | tag "rnnc gruB1 chunk16 4x256" >> $J
done
kill $SMI
python3 docs/measurements/summary.py "$J"
