#!/usr/bin/env bash
# H200 run 107: more sweeps of Newton's initial guess (`RNNC_NEWTON=sweeps=N`:
# after the chained guess, N - 1 more sweeps, each chunk chained again from the
# previous chunk's last guess): 1 (the default), 2, 3, interleaved, two rounds,
# median of 5, Newton only, resident, GPU timestamps.
# Carried: .devbin/rnnc-sweeps (the build with the knob), .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run107.jsonl
for round in 1 2; do
  for case in "para_gru H=1024,D=1024 8 8192" "para_gru H=1024,D=1024 8 2048" "para_lstm H=1024,D=1024 8 8192" "block_elman H=1024,D=1024 8 8192" "para_gru H=256,D=256 1 65536" "para_lstm H=256,D=256 1 65536" "block_elman H=256,D=256 1 65536"; do
    set -- $case
    for s in 1 2 3; do
      RNNC_NEWTON=sweeps=$s timeout 60 .devbin/rnnc-sweeps bench stdlib:$1 --dims $2 --batch $3 --seq $4 --methods newton --repeat 5 --resident --json | sed "s/^{/{\"run\":\"sweeps$s-r$round\",/" >> $J
    done
  done
done
python3 docs/measurements/summary63.py $J > $OUT/summary.txt
