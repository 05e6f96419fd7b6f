#!/usr/bin/env bash
# H200 run 101: the segmented GEMM kernel's segment as a constant of the kernel
# (`new`: `k0 / SEGMENT`, a shift for 512) against 3f602e0's float product
# (`old`: `u32((k0 + 0.5) * (1 / segment))`, the segment read from `sizes`).
# Interleaved, two rounds, median of 7, resident, Newton, forward + backward
# through the tape, N = D = 1024, B = 8; then `gpu_gemm` of the new build.
# Carried: .devbin (rnnc-old, rnnc-new, gpu_gemm), .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run101.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
bench() { timeout 120 .devbin/$1 bench stdlib:$2 --dims $4 --batch 8 --seq $3 --methods newton --repeat 7 --backward --resident --json; }
for round in 1 2; do
  for case in "para_gru_mh 512 H=1024" "para_gru_mh 2048 H=1024" "para_gru_mh 8192 H=1024" "para_lstm_cifg_mh 8192 H=1024" "para_gru 8192 H=1024,D=1024"; do
    set -- $case
    bench rnnc-old $1 $2 $3 | tag "old-r$round" >> $J
    bench rnnc-new $1 $2 $3 | tag "new-r$round" >> $J
  done
done
python3 docs/measurements/summary63.py $J > $OUT/summary.txt
nvidia-smi --query-gpu=clocks.sm,power.draw --format=csv > $OUT/clocks.csv
mkdir -p /work && ln -sfn "$PWD" /work/main
(cd runtime && timeout 200 ../.devbin/gpu_gemm 2>&1 | tail -4) > $OUT/tests.txt
