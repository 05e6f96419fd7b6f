#!/usr/bin/env bash
# H200 run 27: the GPU test suites on the H200 (float64 references): the
# matrix-product kernel, ParaRNN's models against their published equations,
# every cell forward and backward. Test binaries built here
# (`cargo test --release -p rnnc-runtime --test ... --no-run`, stripped).
# Carried: .devbin, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
# The tests find tests/filetests through the path they were built at.
mkdir -p /work && [ -e /work/main ] || ln -s "$PWD" /work/main
for t in gpu_gemm pararnn_models gpu_forward gpu_backward; do
  echo "== $t"
  timeout 300 .devbin/$t --test-threads=1 2>&1 | grep -E "^test |test result|panicked|error" | tee -a $OUT/tests.txt
done
