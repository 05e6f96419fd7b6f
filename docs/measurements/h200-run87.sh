#!/usr/bin/env bash
# H200 run 87: ParaGRU at B = 1, N = 256, T = 65536 (issue 12's 20x row) with
# Newton workgroups of more lanes, so that a workgroup reads more of each
# step's projection row (2 lanes read 8 bytes of each 32-byte sector of a
# gate): the default (2 lanes x 512 threads) against 4 and 8 lanes, forced
# by RNNC_NEWTON; the sequential kernel for the ratio. Two rounds, median of
# 5, resident, GPU timestamps. Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run87.jsonl
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
bench() { RNNC_NEWTON=$2 timeout 60 $B bench stdlib:$3 --dims $4 --batch $5 --seq $6 --methods ${7:-newton} --repeat 5 --resident --json | tag "$1" >> $J; }
for round in 1 2; do
  bench "gruB1 default" "" para_gru H=256,D=256 1 65536 sequential,newton
  for shape in threads=1024,lanes=4 threads=512,lanes=4 threads=256,lanes=4 threads=1024,lanes=8 threads=512,lanes=8 threads=512,lanes=2 threads=256,lanes=2; do
    bench "gruB1 $shape" "$shape" para_gru H=256,D=256 1 65536
  done
  bench "lstmB1 default" "" para_lstm H=256,D=256 1 65536
  bench "lstmB1 threads=1024,lanes=4" "threads=1024,lanes=4" para_lstm H=256,D=256 1 65536
done
python3 -c "
import json, sys, statistics, collections
rows = collections.defaultdict(list)
for line in open('$J'):
    d = json.loads(line); rows[(d['variant'], d['method'])].append((d['recurrence_ms'], d['iterations']))
for (v, m), xs in rows.items():
    print(f'{v:32s} {m:10s} recurrence {statistics.median(x[0] for x in xs):7.3f} ms  iterations {xs[0][1]}')
"
