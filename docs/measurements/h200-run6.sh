#!/usr/bin/env bash
# H200 run 6: the resident runtime (issue 10). Carried: .devbin/rnnc (release,
# stripped) and .gl (Vulkan loader). Writes $OUT/run6.jsonl and $OUT/checks.jsonl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run6.jsonl
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv | tee $OUT/gpu.txt
BIG="--dims H=1024,D=1024 --batch 8 --seq 8192"
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
# Ten back-to-back forwards of ParaGRU (Newton), GPU timestamps, allocations counted.
timeout 120 $B bench stdlib:para_gru $BIG --methods newton --repeat 10 --json | tag back-to-back | tee -a $J
# The recurrence rows with shader checks off (the default), methods interleaved.
for cell in para_gru para_lstm; do
  timeout 120 $B bench stdlib:$cell $BIG --repeat 5 --json | tag checks-off | tee -a $J
done
timeout 120 $B bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --repeat 5 --json | tag checks-off | tee -a $J
# Forward + backward through the tape.
for cell in para_gru para_lstm; do
  timeout 150 $B bench stdlib:$cell $BIG --methods newton,sequential --repeat 5 --backward --json | tag backward | tee -a $J
done
# The same rows with naga's runtime checks on.
export RNNC_SHADER_CHECKS=1
for cell in para_gru para_lstm; do
  timeout 120 $B bench stdlib:$cell $BIG --methods sequential,newton --repeat 3 --json | tag checks-on | tee -a $J
done
timeout 120 $B bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --methods sequential,newton --repeat 3 --json | tag checks-on | tee -a $J
unset RNNC_SHADER_CHECKS
# The block-diagonal input projection cell against a float64 PyTorch model.
mkdir -p /tmp/block && timeout 200 python3 docs/measurements/block_input_check.py $B /tmp/block 2>&1 | tee $OUT/checks.jsonl
# A readable table.
timeout 100 $B bench stdlib:para_gru $BIG --repeat 3 2>&1 | tee $OUT/table.txt
