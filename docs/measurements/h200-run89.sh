#!/usr/bin/env bash
# H200 run 89: the multi-head models' block projections of one input as one
# grouped launch (every block of each of the three or four matrices, the
# input's blocks cycled) against one launch per matrix (the build before it).
# The two binaries interleaved, two rounds, each bench median of 7, resident;
# N = D = 1024, B = 8, Newton, forward and forward + backward through the tape.
# Then the GPU tests of the products and of ParaRNN's models on the H200.
# Carried: .devbin (rnnc-old, rnnc-new, the test binaries), .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run89.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
for round in 1 2; do
  for T in 512 2048 8192; do
    for cell in para_gru_mh para_lstm_cifg_mh; do
      for build in old new; do
        timeout 120 .devbin/rnnc-$build bench stdlib:$cell --dims H=1024 --batch 8 --seq $T --methods newton --repeat 7 --backward --resident --json | tag "$build-r$round" >> $J
      done
    done
  done
done
python3 docs/measurements/summary63.py $J | tee $OUT/summary.txt
mkdir -p /work && ln -sfn "$PWD" /work/main
for t in gpu_gemm pararnn_models; do (cd runtime && timeout 300 ../.devbin/$t 2>&1 | tail -4) | tee -a $OUT/tests.txt; done
