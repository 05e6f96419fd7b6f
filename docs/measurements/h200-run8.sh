#!/usr/bin/env bash
# H200 run 8: the device pipeline with the data resident (`bench --resident`:
# after the warm-up round no input upload and no output read-back), next to the
# same benches with host transfers, with the GPU's clocks sampled every 20 ms.
# Carried: .devbin/rnnc and .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run8.jsonl
BIG="--dims H=1024,D=1024 --batch 8 --seq 8192"
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw --format=csv,noheader -lms 20 > $OUT/clocks.csv &
SMI=$!
for cell in para_gru para_lstm; do
  echo "start resident $cell $(date +%T.%N)" >> $OUT/marks.txt
  timeout 150 $B bench stdlib:$cell $BIG --methods newton --repeat 10 --resident --json | tag back-to-back-resident | tee -a $J
done
for cell in para_gru para_lstm; do
  for T in 512 2048 8192; do
    timeout 150 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq $T --repeat 5 --resident --json | tag resident | tee -a $J
  done
done
timeout 150 $B bench stdlib:block_elman $BIG --repeat 3 --resident --json | tag resident | tee -a $J
timeout 150 $B bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --repeat 5 --resident --json | tag resident | tee -a $J
echo "start host-transfers $(date +%T.%N)" >> $OUT/marks.txt
timeout 150 $B bench stdlib:para_gru $BIG --methods newton --repeat 10 --json | tag back-to-back-transfers | tee -a $J
kill $SMI
timeout 100 $B bench stdlib:para_gru $BIG --repeat 5 --resident 2>&1 | tee $OUT/table.txt
