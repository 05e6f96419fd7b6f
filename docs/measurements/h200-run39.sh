#!/usr/bin/env bash
# H200 run 39: the committed code after run 38 (16-byte loads for the weight
# gradients only): issue 13's layer table (para_gru_mh, para_lstm_cifg_mh at
# T = 512 / 2048 / 8192, forward and forward + backward, `auto`, median of 7,
# resident) and ParaGRU's dense products (median of 5). Clocks sampled every
# 100 ms. Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run39.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu,clocks_event_reasons.active --format=csv -lms 100 > $OUT/clocks.csv &
SMI=$!
timeout 90 $B bench stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq 8192 --methods auto --repeat 5 --backward --resident --json | tag dense | tee -a $J
for T in 512 2048 8192; do
  for cell in para_gru_mh para_lstm_cifg_mh; do
    timeout 120 $B bench stdlib:$cell --dims H=1024 --batch 8 --seq $T --methods auto --repeat 7 --resident --json | tag "layer-fwd-T$T" | tee -a $J
    timeout 120 $B bench stdlib:$cell --dims H=1024 --batch 8 --seq $T --methods auto --repeat 7 --backward --resident --json | tag "layer-fwdbwd-T$T" | tee -a $J
  done
done
kill $SMI
