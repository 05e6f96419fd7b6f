#!/usr/bin/env bash
# H200 run 97: where run 96's 16-byte stores of C cost the input gradients 1%.
# Variants, interleaved, two rounds, median of 7, resident, Newton, forward +
# backward through the tape, para_gru_mh at N = D = 1024, B = 8, T = 2048 and
# 8192, and the dense para_gru at T = 8192:
#   old     d8a2c5c: four scalar stores per quad;
#   new     16-byte stores in every exact quads kernel (run 96's);
#   v2      16-byte stores except in kernels with depth segments;
#   new16   new with 16-deep slices (RNNC_GEMM=16x32), for the segmented product's
#           division per slice.
# Carried: .devbin (rnnc-old, rnnc, rnnc-v2), .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run97.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
bench() { timeout 120 .devbin/$1 bench stdlib:$2 --dims $4 --batch 8 --seq $3 --methods newton --repeat 7 --backward --resident --json; }
for round in 1 2; do
  for case in "para_gru_mh 2048 H=1024" "para_gru_mh 8192 H=1024" "para_gru 8192 H=1024,D=1024"; do
    set -- $case
    bench rnnc-old $1 $2 $3 | tag "old-r$round" >> $J
    bench rnnc $1 $2 $3 | tag "new-r$round" >> $J
    bench rnnc-v2 $1 $2 $3 | tag "v2-r$round" >> $J
    RNNC_GEMM=16x32 bench rnnc $1 $2 $3 | tag "new16-r$round" >> $J
  done
done
python3 docs/measurements/summary63.py $J > $OUT/summary.txt
