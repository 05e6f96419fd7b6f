#!/usr/bin/env bash
# H200 run 119: a linear cell's Newton kernel (the scan) without the initial
# guess's steps and sweeps (its guess is the segment's start state,
# unstepped: the scan is exact from any trajectory), against the build before
# (`rnnc-before`), the two binaries alternated twice; the scan alone (`newton`
# asked), median of 5, resident: mamba_ssm (D = 1024, N = 16, B = 8,
# T = 2048, forward and forward + backward), mingru and minlstm (H = D =
# 1024, B = 8, T = 8192; H = D = 256, B = 1, T = 65536).
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
gunzip .devbin/*.gz; chmod +x .devbin/*
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run119.jsonl
for round in 1 2; do
  for bin in rnnc-before rnnc; do
    B=.devbin/$bin
    tag() { sed "s/^{/{\"run\":\"$bin-$1\",/"; }
    timeout 60 $B bench stdlib:mamba_ssm --dims D=1024,N=16 --batch 8 --seq 2048 --methods newton --repeat 5 --resident --json | tag mamba-fwd >> $J
    timeout 60 $B bench stdlib:mamba_ssm --dims D=1024,N=16 --batch 8 --seq 2048 --methods newton --repeat 5 --backward --resident --json | tag mamba-fwdbwd >> $J
    for cell in mingru minlstm; do
      timeout 60 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq 8192 --methods newton --repeat 5 --resident --json | tag B8 >> $J
      timeout 60 $B bench stdlib:$cell --dims H=256,D=256 --batch 1 --seq 65536 --methods newton --repeat 5 --resident --json | tag B1 >> $J
    done
  done
done
python3 docs/measurements/summary63.py $J | tee $OUT/summary.txt
