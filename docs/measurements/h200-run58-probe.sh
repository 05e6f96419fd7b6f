#!/usr/bin/env bash
# H200, after run 58 (one call): cells whose state is one whole lane. The
# build before the staged pre-pass (`rnnc-main`, ec3d6e4^1) on the MLP cell at
# T = 64, and the build with it on the dense stdlib:gru at H = 256 and 1024
# (one thread a sequence either way). Outputs as seen: the first did not
# finish within 60 s; gru H = 256 failed ("Buffer with 'readback' label is
# invalid"); gru H = 1024 did not finish within 60 s. (Since 38c956a the GPU
# back end refuses such whole lanes: docs/RELIABILITY.md.)
# Carried: .devbin/rnnc, .devbin/rnnc-main, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
echo "== before, mlp T=64"; timeout 60 .devbin/rnnc-main bench docs/measurements/mlp_input.rnn --dims H=1024,D=1024 --batch 8 --seq 64 --methods auto --repeat 1 2>&1 | tail -6
for h in 256 1024; do echo "== after, gru H=$h T=64"; timeout 60 .devbin/rnnc bench stdlib:gru --dims H=$h,D=$h --batch 8 --seq 64 --methods auto --repeat 1 2>&1 | tail -6; done
