#!/usr/bin/env bash
# H200 run 21: where the Newton kernel's time goes, from its own flags: with
# --atol 1e30 every segment stops after one iteration (initial guess + one
# iteration + stores), against the default stopping test (3-4 iterations).
# Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run21.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
for round in 1 2; do
  for a in default 1e30; do
    A=""; [ $a = 1e30 ] && A="--atol 1e30"
    for cell in para_gru para_lstm; do
      timeout 60 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq 8192 --methods newton $A --repeat 3 --resident --json | tag "atol-$a" | tee -a $J
    done
    timeout 60 $B bench stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536 --methods newton $A --repeat 3 --resident --json | tag "atol-$a" | tee -a $J
  done
done
