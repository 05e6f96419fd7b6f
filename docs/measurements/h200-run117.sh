#!/usr/bin/env bash
# H200 run 117: `mamba_ssm`'s scan (lanes of whole rows, D = 1024, N = 16,
# B = 8, T = 2048) under the Newton workgroup knobs: steps per chunk
# (RNNC_NEWTON_CHUNK: 2, 4 (the default for 16 unknowns), 8, 16), lanes per
# workgroup and threads (RNNC_NEWTON=lanes=..,threads=..); forward, median of
# 5, resident; then forward + backward for the best few. The default is
# chunk 4, 8 lanes, 128 threads (runs 115, 116: 2.716 ms recurrence).
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
gunzip .devbin/*.gz; chmod +x .devbin/*
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run117.jsonl
run() { # tag, extra args...
  local tag=$1; shift
  timeout 60 env "$@" $B bench stdlib:mamba_ssm --dims D=1024,N=16 --batch 8 --seq 2048 --methods newton --repeat 5 --resident --json $BWD | sed "s/^{/{\"run\":\"$tag\",/" >> $J
}
BWD=
for chunk in 2 4 8 16; do
  for knobs in "lanes=8,threads=128" "lanes=8,threads=64" "lanes=4,threads=128" "lanes=8,threads=256" "lanes=2,threads=64"; do
    run "chunk$chunk-$knobs" RNNC_NEWTON_CHUNK=$chunk RNNC_NEWTON=$knobs
  done
done
BWD=--backward
for chunk in 2 4 8; do
  run "bwd-chunk$chunk" RNNC_NEWTON_CHUNK=$chunk RNNC_NEWTON=lanes=8,threads=128
done
python3 docs/measurements/summary63.py $J | sed 's/mamba_ssm *D=1024,N=16 *B=8 T=2048 *//' | tee $OUT/summary.txt
