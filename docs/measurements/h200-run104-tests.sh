#!/usr/bin/env bash
# H200 run 104, second call: the build's GPU forward and backward suites and
# the stdlib's float64 references on the H200 (the first call ran gpu_gemm and
# pararnn_models, h200-run104-tests.txt).
# Carried: .devbin (the stripped test binaries), .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
mkdir -p /work && ln -sfn "$PWD" /work/main
for t in gpu_forward gpu_backward stdlib_references; do
  echo "== $t"
  (cd runtime && timeout 280 ../.devbin/$t 2>&1 | grep -E "^test |test result|panicked|FAILED" )
done
