#!/usr/bin/env bash
# H200 run 118: 64 threads for a diagonal lane of many unknowns (run 117's
# best: `newton_shape`), as the committed default: `mamba_ssm` at D = 1024,
# N = 16, B = 8, forward and forward + backward at T = 512 and 2048,
# sequential, scan and auto interleaved, median of 5, resident; the driver's
# statistics; then the mamba_ssm and gpu_backward suites.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
gunzip .devbin/*.gz; chmod +x .devbin/*
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run118.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
for T in 512 2048; do
  timeout 120 $B bench stdlib:mamba_ssm --dims D=1024,N=16 --batch 8 --seq $T --methods sequential,newton,auto --repeat 5 --resident --json | tag "mamba-gpu-fwd-T$T" >> $J
  timeout 120 $B bench stdlib:mamba_ssm --dims D=1024,N=16 --batch 8 --seq $T --methods sequential,newton,auto --repeat 5 --backward --resident --json | tag "mamba-gpu-fwdbwd-T$T" >> $J
done
RNNC_PIPELINE_STATS=1 timeout 120 $B bench stdlib:mamba_ssm --dims D=1024,N=16 --batch 8 --seq 512 --methods newton --repeat 1 --backward 2>&1 | grep "rnnc: pipeline" | grep mamba_ssm\\\|backward | tee $OUT/stats.txt
python3 docs/measurements/summary63.py $J | tee $OUT/summary.txt
mkdir -p /work && ln -sfn "$PWD" /work/main
for t in mamba_ssm gpu_backward; do
  echo "== $t"
  (cd runtime && timeout 200 ../.devbin/$t 2>&1 | grep -E "^test |test result|panicked|FAILED" )
done > $OUT/tests.txt
grep -E "==|result|FAILED|panicked" $OUT/tests.txt
