#!/usr/bin/env bash
# H200 run 62: which of a product's shape or its grouping makes
# para_gru_mh's products slower than ParaGRU's dense ones: the dense cell at
# (H, D) = (1024, 1024), (1024, 512) (projection 512 deep), (512, 1024)
# (projection 1536 wide) and (512, 512) (both, as one head of para_gru_mh),
# against para_gru_mh (two such heads as one grouped launch). B = 8,
# T = 8192, two rounds interleaved, median of 5, resident.
# Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run62.jsonl
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
for round in 1 2; do
  for dims in H=1024,D=1024 H=1024,D=512 H=512,D=1024 H=512,D=512; do
    timeout 90 $B bench stdlib:para_gru --dims $dims --batch 8 --seq 8192 --methods newton --repeat 5 --backward --resident --json | tag "dense $dims" >> $J
  done
  timeout 90 $B bench stdlib:para_gru_mh --dims H=1024 --batch 8 --seq 8192 --methods newton --repeat 5 --backward --resident --json | tag "heads H=1024" >> $J
done
python3 docs/measurements/summary_products.py "$J"
