#!/usr/bin/env bash
# H200 run 116: the committed lanes of whole rows (4837c27) checked whole on
# the H200: `mamba_ssm` at D = 1024, N = 16, B = 8 with `auto` after its cost
# model counts a diagonal lane's step as K (run 115 had it pick the
# sequential kernel), sequential, scan and auto interleaved, median of 5,
# resident; the issue 12 recurrence rows as a check on the templates' JB
# indexing (ParaGRU, ParaLSTM, block_elman at B = 8, N = 1024, T = 8192 and at
# B = 1, N = 256, T = 65536); then every GPU suite and the exchange's tests.
# Carried: .devbin (rnnc and the test binaries, gzipped), .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
gunzip .devbin/*.gz; chmod +x .devbin/*
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run116.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
for T in 512 2048; do
  timeout 120 $B bench stdlib:mamba_ssm --dims D=1024,N=16 --batch 8 --seq $T --methods sequential,newton,auto --repeat 5 --resident --json | tag "mamba-gpu-fwd-T$T" >> $J
  timeout 120 $B bench stdlib:mamba_ssm --dims D=1024,N=16 --batch 8 --seq $T --methods sequential,newton,auto --repeat 5 --backward --resident --json | tag "mamba-gpu-fwdbwd-T$T" >> $J
done
for cell in para_gru para_lstm block_elman; do
  timeout 60 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq 8192 --methods sequential,newton,auto --repeat 5 --resident --json | tag recurrence >> $J
  timeout 90 $B bench stdlib:$cell --dims H=256,D=256 --batch 1 --seq 65536 --methods sequential,newton,auto --repeat 5 --resident --json | tag small-batch >> $J
done
python3 docs/measurements/summary63.py $J | tee $OUT/summary.txt
mkdir -p /work && ln -sfn "$PWD" /work/main
for t in mamba_ssm pararnn_models gpu_forward gpu_backward stdlib_references; do
  echo "== $t"
  (cd runtime && timeout 200 ../.devbin/$t 2>&1 | grep -E "^test |test result|panicked|FAILED" )
done > $OUT/tests.txt
echo "== exchange" >> $OUT/tests.txt
timeout 150 .devbin/exchange 2>&1 | grep -E "^test |test result|panicked|FAILED" >> $OUT/tests.txt
grep -E "==|result|FAILED|panicked" $OUT/tests.txt
