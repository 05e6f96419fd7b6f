#!/usr/bin/env bash
# H200 run 25: the matrix-product kernel with one address and one bounds test
# per loaded quad (run 24 showed loads + staging alone at 7.7 ms of 14.9);
# shapes and options again; then ParaRNN's multi-head models as whole layers,
# forward and forward + backward with every tensor resident, after bench's new
# one-second warm-up, clocks sampled every 100 ms.
# Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run25.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
S="--dims H=1024,D=1024 --batch 8 --seq 8192"
nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu,clocks_event_reasons.active --format=csv -lms 100 > $OUT/clocks.csv &
SMI=$!
for round in 1 2; do
  for g in 8x33 16x33 8x33:prefetch 16x33:prefetch 8x33:nomath 16x33:nomath 16x33:prefetch:noloads; do
    echo "$(date +%H:%M:%S.%N) gemm $g" >> $OUT/marks.txt
    RNNC_GEMM=$g timeout 60 .devbin/rnnc bench stdlib:para_gru $S --methods sequential --repeat 3 --resident --json | tag "gemm-$g" | tee -a $J
  done
done
for g in 8x33 16x33 16x33:prefetch; do
  echo "$(date +%H:%M:%S.%N) gemm-bwd $g" >> $OUT/marks.txt
  RNNC_GEMM=$g timeout 60 .devbin/rnnc bench stdlib:para_gru $S --methods newton --repeat 3 --backward --resident --json | tag "gemm-bwd-$g" | tee -a $J
done
for T in 512 2048 8192; do
  for cell in para_gru_mh para_lstm_cifg_mh; do
    echo "$(date +%H:%M:%S.%N) layer $cell $T" >> $OUT/marks.txt
    timeout 120 .devbin/rnnc bench stdlib:$cell --dims H=1024 --batch 8 --seq $T --methods sequential,newton --repeat 7 --resident --json | tag "layer-fwd-T$T" | tee -a $J
    timeout 120 .devbin/rnnc bench stdlib:$cell --dims H=1024 --batch 8 --seq $T --methods sequential,newton --repeat 7 --backward --resident --json | tag "layer-fwdbwd-T$T" | tee -a $J
  done
done
echo "$(date +%H:%M:%S.%N) end" >> $OUT/marks.txt
kill $SMI
