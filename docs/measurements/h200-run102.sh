#!/usr/bin/env bash
# H200 run 102: 16-byte C
# stores in segmented kernels too (`v4`, kept) against 85356a5 (`new`).
# Interleaved, two rounds, median of 7, resident, Newton, forward + backward.
# Carried: .devbin (rnnc-new, rnnc-v4), .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run102.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
bench() { timeout 120 .devbin/$1 bench stdlib:$2 --dims $4 --batch 8 --seq $3 --methods newton --repeat 7 --backward --resident --json; }
for round in 1 2; do
  for case in "para_gru_mh 512 H=1024" "para_gru_mh 2048 H=1024" "para_gru_mh 8192 H=1024" "para_lstm_cifg_mh 8192 H=1024"; do
    set -- $case
    bench rnnc-new $1 $2 $3 | tag "new-r$round" >> $J
    bench rnnc-v4 $1 $2 $3 | tag "v4-r$round" >> $J
  done
done
python3 docs/measurements/summary63.py $J > $OUT/summary.txt
