#!/usr/bin/env bash
# H200 run 94: the GEMM grid with the products that share a block of a cycled
# operand side by side along x (`fold`: the projection's three matrices of one
# input block, the weight gradients' likewise), against the committed kernel
# (`new`, c9981e9: the input gradients in depth segments) and the build before
# both (`old`, cdea9cf). Builds interleaved, two rounds, median of 7, resident;
# para_gru_mh and para_lstm_cifg_mh, N = D = 1024, B = 8, T = 512 / 2048 /
# 8192, Newton, forward + backward through the tape. Then `gpu_gemm` of the
# fold build on the H200.
# Carried: .devbin (rnnc-old, rnnc-new, rnnc-fold, gpu_gemm), .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run94.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
bench() { timeout 120 .devbin/rnnc-$1 bench stdlib:$2 --dims H=1024 --batch 8 --seq $3 --methods newton --repeat 7 --backward --resident --json; }
for round in 1 2; do
  for T in 512 2048 8192; do
    for cell in para_gru_mh para_lstm_cifg_mh; do
      for build in old new fold; do
        bench $build $cell $T | tag "$build-r$round" >> $J
      done
    done
  done
done
python3 docs/measurements/summary63.py $J > $OUT/summary.txt
mkdir -p /work && ln -sfn "$PWD" /work/main
(cd runtime && timeout 300 ../.devbin/gpu_gemm 2>&1 | tail -4) > $OUT/tests.txt
