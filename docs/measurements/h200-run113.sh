#!/usr/bin/env bash
# H200 run 113: the projections' layout for the Newton kernel where the rule
# picks column by column (N = 256: 2 lanes a workgroup, block_elman 1), forced
# either way by `RNNC_NEWTON=projections=step|column`, at B = 1, 8 and 32:
# does column by column pay at larger batches too? Newton only, interleaved,
# two rounds, median of 5, resident, GPU timestamps.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
chmod +x .devbin/*
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run113.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
for round in 1 2; do
  for batch in 1 8 32; do
    T=$((65536 / batch))
    for layout in step column; do
      for cell in para_gru para_lstm block_elman; do
        RNNC_NEWTON=projections=$layout timeout 90 $B bench stdlib:$cell --dims H=256,D=256 --batch $batch --seq $T --methods newton --repeat 5 --resident --json | tag "$layout-B$batch-r$round" >> $J
      done
    done
  done
done
python3 docs/measurements/summary63.py $J > $OUT/summary.txt 2>&1
