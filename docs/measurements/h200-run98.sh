#!/usr/bin/env bash
# H200 run 98: the segmented GEMM kernel's segment found by a float product
# (`v3`: `segment_of` in gemm.wgsl) against d8a2c5c's u32 division (`old`; the
# kept build of run 97 has the same segmented kernel text as `old` there, and
# run 97 measured the two equal). Interleaved, two rounds, median of 7,
# resident, Newton, forward + backward through the tape, N = D = 1024, B = 8.
# Then `gpu_gemm` of the v3 build on the H200.
# Carried: .devbin (rnnc-old, rnnc-v3, gpu_gemm), .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run98.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
bench() { timeout 120 .devbin/$1 bench stdlib:$2 --dims H=1024 --batch 8 --seq $3 --methods newton --repeat 7 --backward --resident --json; }
for round in 1 2; do
  for case in "para_gru_mh 512" "para_gru_mh 2048" "para_gru_mh 8192" "para_lstm_cifg_mh 8192"; do
    set -- $case
    bench rnnc-old $1 $2 | tag "old-r$round" >> $J
    bench rnnc-v3 $1 $2 | tag "v3-r$round" >> $J
  done
done
python3 docs/measurements/summary63.py $J > $OUT/summary.txt
mkdir -p /work && ln -sfn "$PWD" /work/main
(cd runtime && timeout 200 ../.devbin/gpu_gemm 2>&1 | tail -4) > $OUT/tests.txt
