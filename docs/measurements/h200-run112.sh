#!/usr/bin/env bash
# H200 run 112 (run 111's script again, the layout now a pipeline constant;
# in run 111 a run-time select of the address cost every kernel 4-8%): the
# projections laid out column by column for the Newton
# kernel where its workgroups' lanes read less than a sector of a column's
# step (`ProjectionLayout::for_newton`: ParaGRU, ParaLSTM and block_elman at
# N = 256), step by step elsewhere; issue 12 and 13's tables as run 108 made
# them (sequential, Newton and auto interleaved, median of 5, resident; the
# reverse scan through the tape; the small-batch rows; the layer table,
# median of 7), then the build's GPU suites (gpu_forward, gpu_backward,
# stdlib_references, pararnn_models) and the exchange's tests (the device
# opened with the shared-semaphore extension through extensions.rs).
# Carried: .devbin (rnnc and the test binaries, gzipped), .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
gunzip .devbin/*.gz; chmod +x .devbin/*
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run112.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu,clocks_event_reasons.active --format=csv -lms 100 > $OUT/clocks.csv &
SMI=$!
for cell in para_gru para_lstm; do
  for T in 512 2048 8192; do
    timeout 60 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq $T --methods sequential,newton,auto --repeat 5 --resident --json | tag recurrence >> $J
  done
  timeout 120 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq 8192 --methods newton --repeat 5 --backward --resident --json | tag reverse-scan >> $J
done
timeout 60 $B bench stdlib:block_elman --dims H=1024,D=1024 --batch 8 --seq 8192 --methods sequential,newton,auto --repeat 5 --resident --json | tag recurrence >> $J
for cell in para_gru para_lstm block_elman; do
  timeout 90 $B bench stdlib:$cell --dims H=256,D=256 --batch 1 --seq 65536 --methods sequential,newton,auto --repeat 5 --resident --json | tag small-batch >> $J
  timeout 90 $B bench stdlib:$cell --dims H=256,D=256 --batch 1 --seq 65536 --methods newton --repeat 5 --backward --resident --json | tag small-batch-backward >> $J
done
for T in 512 2048 8192; do
  for cell in para_gru_mh para_lstm_cifg_mh; do
    timeout 120 $B bench stdlib:$cell --dims H=1024 --batch 8 --seq $T --methods sequential,newton,auto --repeat 7 --resident --json | tag "layer-fwd-T$T" >> $J
    timeout 120 $B bench stdlib:$cell --dims H=1024 --batch 8 --seq $T --methods sequential,newton,auto --repeat 7 --backward --resident --json | tag "layer-fwdbwd-T$T" >> $J
  done
done
kill $SMI
# A dense GRU wider than a GPU thread holds: without --backend it runs on the
# CPU, and says why.
timeout 120 $B bench stdlib:gru --dims H=256,D=256 --batch 8 --seq 64 --methods sequential --repeat 1 2>&1 | tee $OUT/gru-fallback.txt
python3 docs/measurements/summary63.py $J | tee $OUT/summary.txt
# The same build's GPU suites on the H200.
mkdir -p /work && ln -sfn "$PWD" /work/main
for t in pararnn_models gpu_forward gpu_backward stdlib_references; do
  echo "== $t"
  (cd runtime && timeout 280 ../.devbin/$t 2>&1 | grep -E "^test |test result|panicked|FAILED" )
done > $OUT/tests.txt
echo "== exchange" >> $OUT/tests.txt
timeout 200 .devbin/exchange 2>&1 | grep -E "^test |test result|panicked|FAILED" >> $OUT/tests.txt
