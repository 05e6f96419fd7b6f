#!/usr/bin/env bash
# H200 run 109: (1) the driver's statistics for every kernel rnnc compiles
# (RNNC_PIPELINE_STATS, VK_KHR_pipeline_executable_properties: registers,
# spills, ...), with any internal representation the driver gives, for the
# issue-12 rows and a layer; (2) an ablation of the projections' layout at
# B = 1 (RNNC_ABLATE_LAYOUT, a patch only: `interleave` puts each lane's
# gates side by side, `time` makes each column time-major; the outputs are
# then wrong, only the times count), interleaved with the committed layout,
# two rounds, median of 5, Newton only, resident, GPU timestamps.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
chmod +x .devbin/*
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run109.jsonl
tag() { sed "s/^{/{\"run\":\"$1\",/"; }
mkdir -p $OUT/ir
for spec in "para_gru H=1024,D=1024 8 8192" "para_gru H=256,D=256 1 65536" "para_lstm H=1024,D=1024 8 8192" "block_elman H=1024,D=1024 8 8192" "para_gru_mh H=1024 8 2048"; do
  set -- $spec
  echo "== $1 $2 B=$3 T=$4" >> $OUT/stats.txt
  RNNC_PIPELINE_STATS=$OUT/ir timeout 120 $B bench stdlib:$1 --dims $2 --batch $3 --seq $4 --methods sequential,newton --repeat 1 --backward --resident 2>&1 | grep -E "^rnnc: pipeline|error" >> $OUT/stats.txt
done
ls $OUT/ir | head -50 > $OUT/ir-files.txt
for round in 1 2; do
  for layout in committed interleave time; do
    for cell in para_gru para_lstm; do
      RNNC_ABLATE_LAYOUT=$layout timeout 90 $B bench stdlib:$cell --dims H=256,D=256 --batch 1 --seq 65536 --methods newton --repeat 5 --resident --json | tag "b1-$layout-r$round" >> $J
    done
    RNNC_ABLATE_LAYOUT=$layout timeout 90 $B bench stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq 8192 --methods newton --repeat 5 --resident --json | tag "b8-$layout-r$round" >> $J
  done
done
python3 docs/measurements/summary63.py $J > $OUT/summary.txt 2>&1
