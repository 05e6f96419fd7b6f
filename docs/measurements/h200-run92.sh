#!/usr/bin/env bash
# H200 run 92: run 91 again with the depth segments a compile-time variant of
# the GEMM kernel (SEGMENTED) stepped at each segment's end (run 91's kernel
# tested `segment` at run time and divided by it at every slice: the unsegmented
# products 1% slower, the segmented input gradients slower at T = 8192). A
# multi-head model's input gradients as one product through the three evenly
# spaced block matrices against one launch per matrix each adding into dx (the
# build before, cdea9cf). The two builds interleaved, three rounds, each bench
# median of 7, resident; N = D = 1024, B = 8, Newton, forward + backward
# through the tape. Then the GPU tests of the products, of ParaRNN's models and
# of every cell's backward on the H200.
# Carried: .devbin (rnnc-old, rnnc-new, the test binaries), .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run92.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
bench() { timeout 120 .devbin/rnnc-$1 bench stdlib:$2 --dims H=1024 --batch 8 --seq $3 --methods newton --repeat 7 --backward --resident --json; }
for round in 1 2 3; do
  for T in 512 2048 8192; do
    for cell in para_gru_mh para_lstm_cifg_mh; do
      for build in old new; do
        bench $build $cell $T | tag "$build-r$round" >> $J
      done
    done
  done
done
python3 docs/measurements/summary63.py $J | tee $OUT/summary.txt
mkdir -p /work && ln -sfn "$PWD" /work/main
for t in gpu_gemm pararnn_models gpu_backward; do (cd runtime && timeout 300 ../.devbin/$t 2>&1 | tail -4) | tee -a $OUT/tests.txt; done
nvidia-smi --query-gpu=clocks.sm,power.draw --format=csv | tail -2 >> $OUT/tests.txt
