#!/usr/bin/env bash
# H200 run 110: the projections' layout, an ablation (RNNC_ABLATE_LAYOUT, a
# patch only; outputs wrong, only times count): `block8` keeps each column's
# values of 8 consecutive rows (steps) together, [row / 8][column][row % 8];
# against the committed row-major layout and run 109's time-major one, for
# Newton and the sequential kernel at B = 1 and B = 8. Interleaved, two
# rounds, median of 5, resident, GPU timestamps.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
chmod +x .devbin/*
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run110.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
for round in 1 2; do
  for layout in committed block8 time; do
    for cell in para_gru para_lstm; do
      RNNC_ABLATE_LAYOUT=$layout timeout 90 $B bench stdlib:$cell --dims H=256,D=256 --batch 1 --seq 65536 --methods sequential,newton --repeat 5 --resident --json | tag "b1-$layout-r$round" >> $J
      RNNC_ABLATE_LAYOUT=$layout timeout 90 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq 8192 --methods sequential,newton --repeat 5 --resident --json | tag "b8-$layout-r$round" >> $J
    done
  done
done
python3 docs/measurements/summary63.py $J > $OUT/summary.txt 2>&1
