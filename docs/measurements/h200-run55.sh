#!/usr/bin/env bash
# H200 run 55: lanes per Newton workgroup chosen by the sequence's lanes
# (`SEQUENCE_WORKGROUPS`), not its unknowns: the new defaults against the old
# rule's shapes (forced by RNNC_NEWTON), and `auto` with the sequential kernel
# on the same rows. Variants interleaved, two rounds, median of 5, resident,
# GPU timestamps. Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run55.jsonl
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
bench() { RNNC_NEWTON=$2 timeout 60 $B bench stdlib:$3 --dims $4 --batch $5 --seq $6 --methods ${7:-newton} --repeat 5 --resident --json | tag "$1" >> $J; }
for round in 1 2; do
  bench "gruB1 new" "" para_gru H=256,D=256 1 65536 sequential,newton,auto
  bench "lstmB1 new" "" para_lstm H=256,D=256 1 65536 sequential,newton,auto
  bench "lstmB1 old(4x256)" "threads=1024,lanes=4" para_lstm H=256,D=256 1 65536
  bench "elmanB1 new" "" block_elman H=256,D=256 1 65536 sequential,newton,auto
  bench "elmanB1 old(2x128)" "threads=256,lanes=2" block_elman H=256,D=256 1 65536
  bench "cifgB1 new" "" para_lstm_cifg_mh H=512 1 65536 sequential,newton,auto
  bench "cifgB1 old(8x128)" "threads=1024,lanes=8" para_lstm_cifg_mh H=512 1 65536
  bench "elman8192 new" "" block_elman H=1024,D=1024 8 8192 sequential,newton,auto
  bench "elman8192 old(8x32)" "threads=256,lanes=8" block_elman H=1024,D=1024 8 8192
  bench "gru8192 new" "" para_gru H=1024,D=1024 8 8192 sequential,newton,auto
  bench "lstm8192 new" "" para_lstm H=1024,D=1024 8 8192 sequential,newton,auto
done
python3 docs/measurements/summary.py "$J"
