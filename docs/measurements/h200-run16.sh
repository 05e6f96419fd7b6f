#!/usr/bin/env bash
# H200 run 16: the chunk scan. .devbin/rnnc-prev composes the chunk maps of a
# lane in log2 S Hillis-Steele rounds (two workgroup barriers a round), then
# applies the previous chunk's prefix; .devbin/rnnc applies the lane's earlier
# chunks' maps in turn to the entering state (one barrier; the reverse scan
# likewise with the later chunks). Interleaved, data resident; forward Newton
# and forward + backward. Carried: .devbin, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run16.jsonl
BIG="--dims H=1024,D=1024 --batch 8"
LONG="--dims H=256,D=256 --batch 1 --seq 65536"
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
for round in 1 2; do
  for B in .devbin/rnnc-prev .devbin/rnnc; do
    for cell in para_gru para_lstm; do
      for T in 512 2048 8192; do
        timeout 60 $B bench stdlib:$cell $BIG --seq $T --methods newton --repeat 5 --resident --json | tag "$(basename $B)" | tee -a $J
      done
    done
    timeout 60 $B bench stdlib:para_gru $LONG --methods newton --repeat 5 --resident --json | tag "$(basename $B)" | tee -a $J
    timeout 60 $B bench stdlib:block_elman $BIG --seq 8192 --methods newton --repeat 3 --resident --json | tag "$(basename $B)" | tee -a $J
    for cell in para_gru para_lstm; do
      timeout 100 $B bench stdlib:$cell $BIG --seq 8192 --methods newton --repeat 3 --backward --json | tag "$(basename $B)-backward" | tee -a $J
    done
  done
done
