#!/usr/bin/env bash
# H200 run 12: recurrence-kernel experiments, one binary, switched by
# environment, interleaved: the sequential kernel loading AHEAD steps ahead with
# its loops written out (RNNC_UNROLL=1 RNNC_AHEAD=n); vector parameters read
# once per thread (RNNC_LANE_PARAMS=1); each step's linearisation kept between
# composing and applying (RNNC_CACHE=1, RNNC_CACHE_WORDS: the register budget);
# Newton chunk lengths (RNNC_NEWTON_CHUNK). Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run12.jsonl
BIG="--dims H=1024,D=1024 --batch 8 --seq 8192"
LONG="--dims H=256,D=256 --batch 1 --seq 65536"
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
for round in 1 2; do
  for v in "RNNC_AHEAD=1" "RNNC_UNROLL=1 RNNC_AHEAD=4" "RNNC_UNROLL=1 RNNC_AHEAD=8" "RNNC_UNROLL=1 RNNC_AHEAD=16" "RNNC_LANE_PARAMS=1" "RNNC_LANE_PARAMS=1 RNNC_UNROLL=1 RNNC_AHEAD=8"; do
    for cell in para_gru para_lstm; do
      env $v timeout 60 $B bench stdlib:$cell $BIG --methods sequential --repeat 5 --resident --json | tag "$v" | tee -a $J
    done
    env $v timeout 60 $B bench stdlib:para_gru $LONG --methods sequential --repeat 3 --resident --json | tag "$v" | tee -a $J
  done
  for v in "RNNC_CACHE=1" "RNNC_CACHE=1 RNNC_LANE_PARAMS=1" "RNNC_CACHE=1 RNNC_CACHE_WORDS=128" "RNNC_CACHE=1 RNNC_LANE_PARAMS=1 RNNC_CACHE_WORDS=128" "RNNC_CACHE=1 RNNC_LANE_PARAMS=1 RNNC_NEWTON_CHUNK=8" "RNNC_CACHE=1 RNNC_LANE_PARAMS=1 RNNC_NEWTON_CHUNK=32"; do
    for cell in para_gru para_lstm; do
      env $v timeout 60 $B bench stdlib:$cell $BIG --methods newton --repeat 5 --resident --json | tag "$v" | tee -a $J
    done
    env $v timeout 60 $B bench stdlib:para_gru $LONG --methods newton --repeat 5 --resident --json | tag "$v" | tee -a $J
  done
done
