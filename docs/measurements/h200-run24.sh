#!/usr/bin/env bash
# H200 run 24: matrix-product variants (RNNC_GEMM: fragments read one step
# ahead, square subgroups, with and without loads) on ParaGRU's dense
# projection; then why the T = 8192 layer's products run slower inside a
# forward + backward loop than in a forward loop: the GPU's clocks and
# throttle reasons sampled every 100 ms during both.
# Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
J=$OUT/run24.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
S="--dims H=1024,D=1024 --batch 8 --seq 8192"
for round in 1 2; do
  for g in 8x33 8x33:prefetch 8x33:square 8x33:prefetch:square 16x33:prefetch 16x33:prefetch:square 8x33:prefetch:noloads 8x33:prefetch:square:noloads; do
    RNNC_GEMM=$g timeout 60 .devbin/rnnc bench stdlib:para_gru $S --methods sequential --repeat 3 --resident --json | tag "gemm-$g" | tee -a $J
  done
done
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,clocks_event_reasons.active --format=csv -lms 100 > $OUT/clocks.csv &
SMI=$!
for g in 8x33 8x33:prefetch; do
  echo "$(date +%H:%M:%S.%N) fwd $g" >> $OUT/marks.txt
  RNNC_GEMM=$g timeout 60 .devbin/rnnc bench stdlib:para_gru_mh --dims H=1024 --batch 8 --seq 8192 --methods newton --repeat 7 --resident --json | tag "mh-fwd-$g" | tee -a $J
  echo "$(date +%H:%M:%S.%N) fwdbwd $g" >> $OUT/marks.txt
  RNNC_GEMM=$g timeout 60 .devbin/rnnc bench stdlib:para_gru_mh --dims H=1024 --batch 8 --seq 8192 --methods newton --repeat 7 --backward --resident --json | tag "mh-fwdbwd-$g" | tee -a $J
done
echo "$(date +%H:%M:%S.%N) end" >> $OUT/marks.txt
kill $SMI
