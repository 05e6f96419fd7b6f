#!/bin/sh
# Every stdlib cell that Newton solves (not the linear ones), CPU, H = D = 64,
# B = 2, T = 4096, seed 1, default settings (RNNC_STALL_DAMPING unset = off);
# the per-segment trace on stderr.
R=${R:-./target/release/rnnc}
for c in block_elman elman gru indrnn lstm para_gru para_gru_mh para_lstm para_lstm_cifg_mh slstm torch_gru cornn; do
  case $c in *_mh) dims=H=64;; *) dims=H=64,D=64;; esac
  echo "== $c $dims"
  RNNC_STALL_TRACE=1 timeout 900 $R bench stdlib:$c --dims $dims --batch 2 --seq 4096 --backend cpu \
    --methods sequential,newton --repeat 1 --seed ${SEED:-1} --json 2> out/sweep/$c.trace
  echo "rc=$? trace: $(grep -c segment out/sweep/$c.trace) lines; fallbacks without damping: $(grep 'Fallback' out/sweep/$c.trace | grep -c '(0 damped)')"
done
