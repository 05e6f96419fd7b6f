#!/usr/bin/env bash
# H200 run 20: the committed code after runs 17-19 (the sequential kernel
# software-pipelined, groups of 32 steps for ParaGRU and 16 for ParaLSTM; the
# Newton kernel's initial guess loading every step before stepping). Resident
# rows, ten back-to-back forwards, forward + backward. Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run20.jsonl
BIG="--dims H=1024,D=1024 --batch 8 --seq 8192"
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
for cell in para_gru para_lstm; do
  for T in 512 2048 8192; do
    timeout 60 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq $T --repeat 5 --resident --json | tag resident | tee -a $J
  done
done
timeout 60 $B bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --repeat 3 --resident --json | tag resident | tee -a $J
timeout 60 $B bench stdlib:block_elman $BIG --repeat 3 --resident --json | tag resident | tee -a $J
timeout 120 $B bench stdlib:para_gru $BIG --methods newton --repeat 10 --resident --json | tag back-to-back-resident | tee -a $J
for cell in para_gru para_lstm; do
  timeout 150 $B bench stdlib:$cell $BIG --methods newton --repeat 3 --backward --json | tag backward | tee -a $J
done
mkdir -p /tmp/block && timeout 200 python3 docs/measurements/block_input_check.py $B /tmp/block 2>&1 | tail -1 | tee $OUT/checks.jsonl
