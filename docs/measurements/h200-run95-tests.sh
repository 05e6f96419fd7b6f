#!/usr/bin/env bash
# H200 run 95: the GPU test suites of the final code (the input gradients in
# depth segments, c9981e9, and the CPU devices' 2-step Newton chunks, which
# leave the H200's kernels unchanged): the products, ParaRNN's models, every
# cell forward and backward, the stdlib's references.
# Carried: .devbin (the stripped test binaries), .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
mkdir -p /work && ln -sfn "$PWD" /work/main
for t in gpu_gemm pararnn_models gpu_forward gpu_backward stdlib_references; do
  echo "== $t"
  (cd runtime && timeout 280 ../.devbin/$t 2>&1 | grep -E "^test |test result|panicked|FAILED" )
done
