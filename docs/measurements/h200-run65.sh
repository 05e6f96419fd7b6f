#!/usr/bin/env bash
# H200 run 65: with the chained initial guess as the default (after run 64),
# the GPU suites whose Newton solves it changes (float64 references; sLSTM's
# damped Newton at T = 200 and 4096, whose restarts take the same guess), and
# the B = 1 and B = 8 rows again (median of 5, resident). Test binaries built
# here (`cargo test --release -p rnnc-runtime --no-run`, stripped).
# Carried: .devbin/{rnnc,stdlib_references,gpu_forward,pararnn_models}, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
mkdir -p /work && [ -e /work/main ] || ln -s "$PWD" /work/main
for t in stdlib_references pararnn_models gpu_forward; do
  echo "== $t"
  start=$(date +%s)
  timeout 150 .devbin/$t --test-threads=1 2>&1 | grep -E "^test |test result|panicked|error" | tee -a $OUT/tests.txt
  echo "== $t: rc ${PIPESTATUS[0]}, $(( $(date +%s) - start )) s" | tee -a $OUT/tests.txt
done
B=.devbin/rnnc
J=$OUT/run65.jsonl
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
for cell in para_gru para_lstm; do
  timeout 90 $B bench stdlib:$cell --dims H=256,D=256 --batch 1 --seq 65536 --methods sequential,newton,auto --repeat 5 --resident --json | tag "b1 $cell" >> $J
  timeout 90 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq 8192 --methods sequential,newton,auto --repeat 5 --resident --json | tag "b8 $cell" >> $J
done
python3 docs/measurements/summary.py $J
