#!/usr/bin/env bash
# H200 run 63 (first call): the GPU test suites on the H200, against their
# float64 references, with the code of this run: the matrix-product kernels
# (exact layouts, 16-byte loads along the depth, splits towards 2048
# workgroups), ParaRNN's models against their published equations, the
# stdlib's references (sLSTM solved in parallel with damped Newton at T = 200
# and 4096 on the GPU: damping is on for GPU devices, off on lavapipe), every
# cell forward and backward. Test binaries built here (`cargo test --release
# -p rnnc-runtime --no-run`, stripped). Carried: .devbin, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
# The tests find tests/filetests through the path they were built at.
mkdir -p /work && [ -e /work/main ] || ln -s "$PWD" /work/main
for t in gpu_gemm pararnn_models stdlib_references gpu_forward gpu_backward; do
  echo "== $t"
  start=$(date +%s)
  timeout 150 .devbin/$t --test-threads=1 2>&1 | grep -E "^test |test result|panicked|error" | tee -a $OUT/tests.txt
  echo "== $t: rc ${PIPESTATUS[0]}, $(( $(date +%s) - start )) s" | tee -a $OUT/tests.txt
done
