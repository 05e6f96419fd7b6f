#!/usr/bin/env bash
# H200 run 31: Newton kernel variants (issue 12), by RNNC_NEWTON knobs in one
# binary (the `guess` and `ablate` knobs were removed after the run; `threads`
# and `lanes` stay), interleaved, two rounds, median of 3 each, data resident:
# workgroup threads, lanes per workgroup, the initial guess, and the chunk scan
# left out (timed with --atol 1e30: one iteration per segment).
# Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run31.jsonl
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
pg="stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq 8192"
pl="stdlib:para_lstm --dims H=1024,D=1024 --batch 8 --seq 8192"
b1="stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536"
one() { # variant knobs cell-args [extra]
  RNNC_NEWTON="$2" timeout 60 $B bench $3 --methods newton --repeat 3 --resident --json $4 | tag "$1" | tee -a $J
}
for round in 1 2; do
  for cell in pg pl; do
    args=${!cell}
    one "$cell base" "" "$args"
    one "$cell threads=512" "threads=512" "$args"
    one "$cell threads=256" "threads=256" "$args"
    one "$cell guess=chain" "guess=chain" "$args"
    one "$cell guess=none" "guess=none" "$args"
    one "$cell threads=256,guess=chain" "threads=256,guess=chain" "$args"
    one "$cell threads=512,guess=chain" "threads=512,guess=chain" "$args"
    one "$cell atol1e30" "" "$args" "--atol 1e30"
    one "$cell atol1e30 noscan" "ablate=noscan" "$args" "--atol 1e30"
  done
  one "b1 base" "" "$b1"
  one "b1 lanes=1,threads=256" "lanes=1,threads=256" "$b1"
  one "b1 lanes=1,threads=512" "lanes=1,threads=512" "$b1"
  one "b1 lanes=1,threads=1024" "lanes=1,threads=1024" "$b1"
  one "b1 lanes=2,threads=256" "lanes=2,threads=256" "$b1"
  one "b1 lanes=4,threads=256" "lanes=4,threads=256" "$b1"
  one "b1 lanes=1,threads=256,guess=chain" "lanes=1,threads=256,guess=chain" "$b1"
  one "b1 atol1e30" "" "$b1" "--atol 1e30"
  one "b1 atol1e30 noscan" "ablate=noscan" "$b1" "--atol 1e30"
done
