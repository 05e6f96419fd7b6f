#!/usr/bin/env bash
# H200 run 114: `stdlib:mamba_ssm` (Mamba's selective SSM, a [D, N] matrix
# state) at D = 1024, N = 16 on the GPU in lanes of whole rows (one row of h
# a lane, its Jacobian's diagonal; before, beyond 64 state elements it ran on
# the CPU only), forward by both methods and forward + backward, against the
# CPU back end on this machine's 16 cores; the driver's statistics of its
# kernels; the lanes' templates (JB, the Jacobian's blocks) rechecked on
# ParaGRU, ParaLSTM and block_elman against run 112's figures; then the
# build's GPU suites. Carried: .devbin (rnnc and the test binaries,
# gzipped), .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
gunzip .devbin/*.gz; chmod +x .devbin/*
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run114.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
for T in 512 2048; do
  timeout 120 $B bench stdlib:mamba_ssm --dims D=1024,N=16 --batch 8 --seq $T --methods sequential,newton,auto --repeat 5 --resident --json | tag "mamba-gpu-fwd-T$T" >> $J
  timeout 120 $B bench stdlib:mamba_ssm --dims D=1024,N=16 --batch 8 --seq $T --methods sequential,newton --repeat 5 --backward --resident --json | tag "mamba-gpu-fwdbwd-T$T" >> $J
done
timeout 200 $B bench stdlib:mamba_ssm --backend cpu --dims D=1024,N=16 --batch 8 --seq 512 --methods sequential,newton --repeat 3 --json | tag "mamba-cpu-fwd-T512" >> $J
timeout 200 $B bench stdlib:mamba_ssm --backend cpu --dims D=1024,N=16 --batch 8 --seq 512 --methods newton --repeat 3 --backward --json | tag "mamba-cpu-fwdbwd-T512" >> $J
RNNC_PIPELINE_STATS=1 timeout 120 $B bench stdlib:mamba_ssm --dims D=1024,N=16 --batch 8 --seq 512 --methods sequential,newton --repeat 1 --backward 2>&1 | tee $OUT/mamba-stats.txt
for cell in para_gru para_lstm block_elman; do
  timeout 60 $B bench stdlib:$cell --dims H=1024,D=1024 --batch 8 --seq 8192 --methods sequential,newton --repeat 5 --resident --json | tag recurrence >> $J
  timeout 90 $B bench stdlib:$cell --dims H=256,D=256 --batch 1 --seq 65536 --methods sequential,newton --repeat 5 --resident --json | tag small-batch >> $J
done
timeout 120 $B bench stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq 8192 --methods newton --repeat 5 --backward --resident --json | tag reverse-scan >> $J
python3 docs/measurements/summary63.py $J | tee $OUT/summary.txt
mkdir -p /work && ln -sfn "$PWD" /work/main
for t in mamba_ssm pararnn_models gpu_forward gpu_backward stdlib_references; do
  echo "== $t"
  (cd runtime && timeout 200 ../.devbin/$t 2>&1 | grep -E "^test |test result|panicked|FAILED" )
done > $OUT/tests.txt
cat $OUT/tests.txt | grep -E "==|result|FAILED|panicked"
