#!/usr/bin/env bash
# H200 run 53: an ablation, not a result: the recurrence kernels reading the
# projections as if laid out time-major ([columns, B T]: `load_raw` reads
# column c of step t at c B T + b T + t; the values are the same buffer's,
# permuted, so the outputs are wrong and only the times count) against the
# committed step-major layout ([B T, columns]). Does the B = 1 Newton kernel
# wait on its loads (a workgroup of 2 lanes reads 8 bytes of every 3 KB row)?
# Two binaries interleaved, two rounds, median of 5, resident, GPU timestamps.
# Carried: .devbin/rnnc, .devbin/rnnc-tmajor, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run53.jsonl
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
for round in 1 2; do
  for bin in rnnc rnnc-tmajor; do
    B=.devbin/$bin
    for v in "default" "threads=1024,lanes=1" "threads=512,lanes=1" "threads=1024,lanes=2" "threads=256,lanes=1"; do
      k=$v; [ "$v" = default ] && k=
      RNNC_NEWTON=$k timeout 60 $B bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --methods newton --repeat 5 --resident --json | tag "$bin gruB1 $v" >> $J
    done
    timeout 60 $B bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --methods sequential --repeat 5 --resident --json | tag "$bin gruB1 sequential" >> $J
    timeout 60 $B bench stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq 8192 --methods sequential,newton --repeat 5 --resident --json | tag "$bin gru8192" >> $J
    RNNC_NEWTON=threads=1024,lanes=1 timeout 60 $B bench stdlib:para_lstm --dims H=256,D=256 --batch 1 --seq 65536 --methods newton --repeat 5 --resident --json | tag "$bin lstmB1 1x1024" >> $J
    timeout 60 $B bench stdlib:para_lstm --dims H=256,D=256 --batch 1 --seq 65536 --methods newton --repeat 5 --resident --json | tag "$bin lstmB1 default" >> $J
  done
done
python3 docs/measurements/summary.py "$J"
