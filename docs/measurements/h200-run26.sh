#!/usr/bin/env bash
# H200 run 26: the layer table. ParaRNN's multi-head models (para_gru_mh,
# para_lstm_cifg_mh) at N = D = 1024, B = 8, T = 512 / 2048 / 8192, forward and
# forward + backward through the tape with every tensor resident, after bench's
# one-second warm-up; each product timed by its own phase (projection, weight
# gradients, input gradients); ParaGRU's dense projection with the kernel's
# default shape (8 x 33) and its ablations; clocks sampled every 100 ms.
# Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run26.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu,clocks_event_reasons.active --format=csv -lms 100 > $OUT/clocks.csv &
SMI=$!
for T in 512 2048 8192; do
  for cell in para_gru_mh para_lstm_cifg_mh; do
    echo "$(date +%H:%M:%S.%N) layer $cell $T" >> $OUT/marks.txt
    timeout 120 .devbin/rnnc bench stdlib:$cell --dims H=1024 --batch 8 --seq $T --methods sequential,newton --repeat 7 --resident --json | tag "layer-fwd-T$T" | tee -a $J
    timeout 120 .devbin/rnnc bench stdlib:$cell --dims H=1024 --batch 8 --seq $T --methods sequential,newton --repeat 7 --backward --resident --json | tag "layer-fwdbwd-T$T" | tee -a $J
  done
done
S="--dims H=1024,D=1024 --batch 8 --seq 8192"
for g in default 8x33:noloads 8x33:nomath; do
  echo "$(date +%H:%M:%S.%N) gemm $g" >> $OUT/marks.txt
  if [ $g = default ]; then unset RNNC_GEMM; else export RNNC_GEMM=$g; fi
  timeout 60 .devbin/rnnc bench stdlib:para_gru $S --methods newton --repeat 5 --backward --resident --json | tag "gemm-dense-$g" | tee -a $J
done
echo "$(date +%H:%M:%S.%N) end" >> $OUT/marks.txt
kill $SMI
