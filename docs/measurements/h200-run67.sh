#!/usr/bin/env bash
# H200 run 67: the chained guess linearising the steps it evaluates, reused
# by the first iteration (`FUSED_GUESS`, the variant's default: the guess a
# pass of the segment loop) against a guess pass of its own
# (`RNNC_NEWTON=fused=0`, in the variant's restructured loop), after the GPU
# suites on this build. Issue 12's rows (B = 8, N = 1024, T = 512 / 2048 / 8192;
# B = 1, N = 256, T = 65536) and two linear cells (one scan). Two rounds
# interleaved, median of 5, resident, GPU timestamps.
# The variant is not committed: h200-run67-fused-guess.patch builds it.
# Carried: .devbin/{rnnc,gpu_forward,pararnn_models,stdlib_references}, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
mkdir -p /work && [ -e /work/main ] || ln -s "$PWD" /work/main
for t in gpu_forward pararnn_models stdlib_references; do
  timeout 200 .devbin/$t --test-threads=1 2>&1 | grep -E "^test |test result|panicked|left|right" | sed "s/^/$t: /"
done | tee $OUT/tests.txt
nvidia-smi --query-gpu=clocks.sm,power.draw --format=csv,noheader -lms 200 > $OUT/clocks.csv &
B=.devbin/rnnc
J=$OUT/run67.jsonl
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
for round in 1 2; do
  for k in "fused=0" ""; do
    methods=newton
    [ -z "$k" ] && methods=sequential,newton
    for cell in para_gru para_lstm block_elman; do
      RNNC_NEWTON=$k timeout 90 $B bench stdlib:$cell --dims H=256,D=256 --batch 1 --seq 65536 --methods $methods --repeat 5 --resident --json | tag "b1 $cell $k" >> $J
    done
    for T in 512 2048 8192; do
      for cell in para_gru para_lstm; do
        RNNC_NEWTON=$k timeout 90 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq $T --methods $methods --repeat 5 --resident --json | tag "b8 T$T $cell $k" >> $J
      done
    done
    for cell in minlstm mingru; do
      RNNC_NEWTON=$k timeout 90 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq 8192 --methods newton --repeat 5 --resident --json | tag "linear $cell $k" >> $J
    done
  done
done
kill %1
python3 docs/measurements/summary.py $J | sort
