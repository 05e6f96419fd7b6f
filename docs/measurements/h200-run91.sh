#!/usr/bin/env bash
# H200 run 91: a multi-head model's input gradients as one product whose depth
# runs through the three (four) evenly spaced block matrices in turn (depth
# segments, `GemmSizes::segment`) against one launch per matrix each adding
# into dx (the build before, cdea9cf). The two builds interleaved, two rounds,
# each bench median of 7, resident; N = D = 1024, B = 8, Newton, forward +
# backward through the tape. Then the new build with other GEMM slice shapes
# (RNNC_GEMM=16x32, 8x33) on para_gru_mh, and the GPU tests of the products and
# of ParaRNN's models on the H200.
# Carried: .devbin (rnnc-old, rnnc-new, the test binaries), .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run91.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
bench() { timeout 120 .devbin/rnnc-$1 bench stdlib:$2 --dims H=1024 --batch 8 --seq $3 --methods newton --repeat 7 --backward --resident --json; }
for round in 1 2; do
  for T in 512 2048 8192; do
    for cell in para_gru_mh para_lstm_cifg_mh; do
      for build in old new; do
        bench $build $cell $T | tag "$build-r$round" >> $J
      done
    done
    for shape in 16x32 8x33; do
      RNNC_GEMM=$shape bench new para_gru_mh $T | tag "new-$shape-r$round" >> $J
    done
  done
done
python3 docs/measurements/summary63.py $J | tee $OUT/summary.txt
mkdir -p /work && ln -sfn "$PWD" /work/main
for t in gpu_gemm pararnn_models; do (cd runtime && timeout 300 ../.devbin/$t 2>&1 | tail -4) | tee -a $OUT/tests.txt; done
nvidia-smi --query-gpu=clocks.sm,power.draw --format=csv | tail -2 >> $OUT/tests.txt
