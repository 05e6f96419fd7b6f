#!/usr/bin/env bash
# H200 run 106: where the Newton recurrence's time goes, by stages done twice
# (results unchanged: the second evaluation's input perturbed by 1e-30 t so it
# is not folded, the two averaged; the scan run again from the same maps):
# `lin2` every linearisation (f and J) twice, `guess2` the initial guess's
# step twice, `scan2` the chunk scan twice; against `base` (5f77968).
# Patches: h200-run106-lin2.patch, -guess2.patch, -scan2.patch. Newton only,
# interleaved, two rounds, median of 5, resident, GPU timestamps.
# Carried: .devbin (rnnc-base, rnnc-lin2, rnnc-guess2, rnnc-scan2, gzipped), .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
gunzip .devbin/*.gz 2>/dev/null; chmod +x .devbin/*
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run106.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
for round in 1 2; do
  for case in "para_gru H=1024,D=1024 8 8192" "para_gru H=1024,D=1024 8 2048" "para_lstm H=1024,D=1024 8 8192" "para_gru H=256,D=256 1 65536"; do
    set -- $case
    for v in base lin2 guess2 scan2; do
      timeout 60 .devbin/rnnc-$v bench stdlib:$1 --dims $2 --batch $3 --seq $4 --methods newton --repeat 5 --resident --json | tag "$v-r$round" >> $J
    done
  done
done
python3 docs/measurements/summary63.py $J > $OUT/summary.txt
