#!/usr/bin/env bash
# H200 run 93: three texts of the GEMM kernel's depth segments, against the
# build before them (cdea9cf, `old`). Run 92's text (`v1`: the operands as
# `var`s moved at each segment's end) made the unsegmented products 2-3%
# slower. `v2`: each slice's operands as `let`s, the segment found by a
# division in segmented kernels only; `v3`: a `u32` shift per operand carried
# across slices (moved at each segment's end), each slice's operands built from
# it. Builds interleaved, two rounds, median of 7, resident; para_gru_mh, N = D
# = 1024, B = 8, Newton, forward + backward through the tape.
# Carried: .devbin (rnnc-old, rnnc-v1, rnnc-v2, rnnc-v3), .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run93.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
bench() { timeout 120 .devbin/rnnc-$1 bench stdlib:$2 --dims H=1024 --batch 8 --seq $3 --methods newton --repeat 7 --backward --resident --json; }
for round in 1 2; do
  for T in 2048 8192; do
    for build in old v1 v2 v3; do
      bench $build para_gru_mh $T | tag "$build-r$round" >> $J
    done
  done
done
python3 docs/measurements/summary63.py $J | tee $OUT/summary.txt
