#!/usr/bin/env bash
# H200 run 90: issue 14's GPU tests on the H200 at 72bbc9a (sLSTM solved in
# parallel by damped Newton at T = 200 and 4096, plain-Newton cells undamped,
# minLSTM and the selective SSM by one scan, the MLP-on-input and
# block-times-input cells forward and backward against float64), with the
# multi-head models' grouped block launches. Carried: .devbin (the stripped
# test binaries), .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
mkdir -p /work && ln -sfn "$PWD" /work/main
for t in stdlib_references selective_ssm; do (cd runtime && timeout 240 ../.devbin/$t 2>&1 | grep -E "^test |test result") | tee -a $OUT/tests.txt; done
