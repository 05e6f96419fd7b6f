#!/usr/bin/env bash
# H200 run 120: the final build of this session (1aadf37: lanes of whole rows,
# 64 threads for a diagonal lane, a linear cell's unstepped guess) through
# every GPU suite and the exchange's tests on the H200, where Newton's chunks
# are 8 and 16 steps (lavapipe's 2), and `mamba_ssm`'s rows once more
# (sequential, scan and auto interleaved, median of 5, resident).
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
gunzip .devbin/*.gz; chmod +x .devbin/*
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run120.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
timeout 60 $B bench stdlib:mamba_ssm --dims D=1024,N=16 --batch 8 --seq 2048 --methods sequential,newton,auto --repeat 5 --resident --json | tag mamba-fwd-T2048 >> $J
timeout 90 $B bench stdlib:mamba_ssm --dims D=1024,N=16 --batch 8 --seq 2048 --methods sequential,newton,auto --repeat 5 --backward --resident --json | tag mamba-fwdbwd-T2048 >> $J
python3 docs/measurements/summary63.py $J | tee $OUT/summary.txt
mkdir -p /work && ln -sfn "$PWD" /work/main
for t in mamba_ssm pararnn_models gpu_forward gpu_backward stdlib_references; do
  echo "== $t"
  (cd runtime && timeout 200 ../.devbin/$t 2>&1 | grep -E "^test |test result|panicked|FAILED" )
done > $OUT/tests.txt
echo "== exchange" >> $OUT/tests.txt
timeout 100 .devbin/exchange 2>&1 | grep -E "^test |test result|panicked|FAILED" >> $OUT/tests.txt
grep -E "==|result|FAILED|panicked" $OUT/tests.txt
