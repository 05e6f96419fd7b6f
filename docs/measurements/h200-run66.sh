#!/usr/bin/env bash
# H200 run 66: stdlib_references after its sLSTM damping test pinned the GPU
# kernel's guess from the segment's start state (where plain Newton fails, so
# damping is exercised) and added the default chained guess (solved in
# parallel). Carried: .devbin/stdlib_references, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
mkdir -p /work && [ -e /work/main ] || ln -s "$PWD" /work/main
timeout 150 .devbin/stdlib_references --test-threads=1 2>&1 | grep -E "^test |test result|panicked|error|left|right|report" | tee $OUT/tests.txt
