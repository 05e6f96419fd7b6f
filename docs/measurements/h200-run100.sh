#!/usr/bin/env bash
# H200 run 100: two more texts of the segmented GEMM kernel against the kept
# one (`v3`, 4004ff6: the segment by a float product, found in each operand's
# shift): `v4` finds each slice's segment once for both operands and holds each
# operand's step per segment from the start; `v5` is v4 with 16-byte stores of C
# in segmented kernels too. Interleaved, two rounds, median of 7, resident,
# Newton, forward + backward through the tape, N = D = 1024, B = 8.
# Carried: .devbin (rnnc-v3, rnnc-v4, rnnc-v5), .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run100.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
bench() { timeout 120 .devbin/$1 bench stdlib:$2 --dims H=1024 --batch 8 --seq $3 --methods newton --repeat 7 --backward --resident --json; }
for round in 1 2; do
  for case in "para_gru_mh 512" "para_gru_mh 2048" "para_gru_mh 8192"; do
    set -- $case
    for build in v3 v4 v5; do
      bench rnnc-$build $1 $2 | tag "$build-r$round" >> $J
    done
  done
done
python3 docs/measurements/summary63.py $J > $OUT/summary.txt
