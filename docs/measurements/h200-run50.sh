#!/usr/bin/env bash
# H200 run 50: the Newton kernel's chunk exchanges through subgroup operations
# (shuffles, no barrier within a subgroup) against workgroup memory only
# (`RNNC_NEWTON=subgroups=0`), and workgroup shapes with subgroups. Variants
# interleaved, two rounds, median of 5 each, data resident, GPU timestamps.
# Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run50.jsonl
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu --format=csv -lms 200 > $OUT/clocks.csv &
SMI=$!
bench() { # variant knobs cell dims batch seq
  RNNC_NEWTON=$2 timeout 60 $B bench stdlib:$3 --dims $4 --batch $5 --seq $6 --methods newton --repeat 5 --resident --json | tag "$1" >> $J
}
for round in 1 2; do
  for v in "subgroups=0" "subgroups=1" "threads=128,lanes=4" "threads=512,lanes=8" "threads=1024,lanes=8" "threads=64,lanes=2" "threads=32,lanes=1"; do
    bench "gru8192 $v" "$v" para_gru H=1024,D=1024 8 8192
  done
  for v in "subgroups=0" "subgroups=1" "threads=256,lanes=8" "threads=64,lanes=2"; do
    bench "lstm8192 $v" "$v" para_lstm H=1024,D=1024 8 8192
  done
  for v in "subgroups=0" "subgroups=1" "threads=1024,lanes=1" "threads=512,lanes=1" "threads=1024,lanes=4" "threads=256,lanes=1"; do
    bench "gruB1 $v" "$v" para_gru H=256,D=256 1 65536
  done
  for v in "subgroups=0" "subgroups=1"; do
    bench "lstmB1 $v" "$v" para_lstm H=256,D=256 1 65536
    bench "elmanB1 $v" "$v" block_elman H=256,D=256 1 65536
  done
done
timeout 60 $B bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --methods sequential,newton --repeat 5 --resident --json | tag "gruB1 sequential+default" >> $J
timeout 60 $B bench stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq 8192 --methods sequential,newton,auto --repeat 5 --resident --json | tag "gru8192 sequential+default" >> $J
kill $SMI
python3 docs/measurements/summary.py "$J"
