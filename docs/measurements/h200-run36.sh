#!/usr/bin/env bash
# H200 run 36: the product kernel's fragments read one depth ahead (`:ahead`)
# now that operand layouts are fixed at compile time, with ablations (ParaGRU's
# dense products, N = D = 1024, B = 8, T = 8192, two rounds, median of 5); and
# Newton shapes around run 32's for B = 1, N = 256, T = 65536 (RNNC_NEWTON,
# RNNC_NEWTON_CHUNK). Resident. Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run36.jsonl
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
S="stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq 8192"
b1="stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536"
for round in 1 2; do
  for g in 8x32 8x32:ahead 8x32:noloads 8x32:ahead:noloads 16x32 16x32:ahead 8x33:ahead; do
    RNNC_GEMM=$g timeout 90 $B bench $S --methods newton --repeat 5 --backward --resident --json | tag "dense $g" | tee -a $J
  done
  for v in "lanes=2,threads=512;" "lanes=2,threads=1024;" "lanes=4,threads=1024;" "lanes=2,threads=512;16" "lanes=2,threads=1024;4" "lanes=1,threads=1024;4" "lanes=2,threads=256;16"; do
    knobs=${v%;*}; chunk=${v#*;}
    RNNC_NEWTON=$knobs RNNC_NEWTON_CHUNK=$chunk timeout 60 $B bench $b1 --methods newton --repeat 5 --resident --json | tag "b1 $v" | tee -a $J
  done
done
