#!/usr/bin/env bash
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
for cell in para_gru para_lstm; do
  timeout 200 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq 8192 --repeat 5 --backward --json 2>&1 | tee -a $OUT/backward.jsonl
done
