#!/usr/bin/env bash
# H200 run 96: the GEMM kernel's stores of C as 16-byte writes in exact quads
# kernels (`new`) against the committed kernel's four scalar writes per quad
# (`old`, d8a2c5c). Builds interleaved, two rounds, median of 7, resident;
# para_gru_mh and para_lstm_cifg_mh at N = D = 1024, B = 8, T = 512 / 2048 /
# 8192, and the dense para_gru at T = 8192 (issue 13's 412-GFLOP products),
# Newton, forward + backward through the tape. Then `gpu_gemm` and
# `pararnn_models` of the new build on the H200.
# Carried: .devbin (rnnc-old, rnnc, gpu_gemm, pararnn_models), .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run96.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
bench() { timeout 120 .devbin/$1 bench stdlib:$2 --dims $4 --batch 8 --seq $3 --methods newton --repeat 7 --backward --resident --json; }
for round in 1 2; do
  for T in 512 2048 8192; do
    for cell in para_gru_mh para_lstm_cifg_mh; do
      for build in rnnc-old rnnc; do
        bench $build $cell $T H=1024 | tag "$build-r$round" >> $J
      done
    done
  done
  for build in rnnc-old rnnc; do
    bench $build para_gru 8192 H=1024,D=1024 | tag "$build-r$round" >> $J
  done
done
python3 docs/measurements/summary63.py $J > $OUT/summary.txt
mkdir -p /work && ln -sfn "$PWD" /work/main
(cd runtime && timeout 200 ../.devbin/gpu_gemm 2>&1 | tail -4; timeout 200 ../.devbin/pararnn_models 2>&1 | tail -4) > $OUT/tests.txt
