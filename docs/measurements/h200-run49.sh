#!/usr/bin/env bash
# H200 run 49 (GPU 0 of the x2 machine): issue 14's sLSTM row, damped Newton
# against the sequential kernel: stdlib:slstm at N = D = 1024, B = 8,
# T = 8192, data resident, GPU timestamps, median of 5, methods interleaved;
# `auto` beside them. Carried: .gl, .devbin/rnnc (the release build after
# merging damped Newton, stripped).
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
nvidia-smi -L
timeout 300 .devbin/rnnc bench stdlib:slstm --dims H=1024,D=1024 --batch 8 --seq 8192 --methods sequential,newton,auto --repeat 5 --resident --json | tee $OUT/slstm.jsonl
