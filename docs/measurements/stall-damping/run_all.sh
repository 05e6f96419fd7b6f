#!/bin/sh
# The measurements of stall-damping.md: every case under the three variants
# (RNNC_STALL_DAMPING=off|restart|continue), CPU, Newton vs the sequential
# reference, per-segment trace on (RNNC_STALL_TRACE=1). Data from gen_data.py
# (rnnc bench's random data for the seed). Results: out/results.jsonl.
R=${R:-$PWD/target/release/rnnc}
V=off,restart,continue
case_() { # repeat cell-file dims B T seed label [extra run args]
  n=$1; f=$2; dims=$3; B=$4; T=$5; s=$6; label=$7; shift 7
  d=out/data/$label
  [ -f $d/params.safetensors ] || python3 out/gen_data.py $R $f $dims $B $T $s $d
  RNNC_STALL_TRACE=1 python3 out/run_case.py $R $f $d $label out/results.jsonl $n $V -- "$@" | grep '^{'
}
# Cases that stall at default settings (found by the screening runs).
case_ 3 out/dense_cross_state.rnn H=12,D=5 1 65536 1 dense_cross_state-H12-T65536
case_ 3 out/dense_cross_state.rnn H=12,D=5 4 65536 7 dense_cross_state-H12-B4-T65536-s7
# Control: plain Newton with twice the cap (off only).
V=off case_ 1 out/dense_cross_state.rnn H=12,D=5 4 65536 7 dense_cross_state-H12-B4-T65536-s7 --max-iterations 64
# The brief's cases (they do not stall: their plain Newton grows first).
case_ 3 out/logistic.rnn H=64 1 4096 1 logistic_T4096
d=out/data/logistic_plain_T4096; [ -f $d/params.safetensors ] || python3 out/gen_data.py $R out/logistic_plain.rnn H=64 1 4096 1 $d
python3 -c "import numpy as np; np.save('$d/init_h.npy', np.random.default_rng(0).uniform(0.05,0.95,(1,64)).astype(np.float32))"
case_ 3 out/logistic_plain.rnn H=64 1 4096 1 logistic_plain_T4096
case_ 3 out/accumulator.rnn H=64,D=64 1 4096 1 accumulator_T4096
case_ 3 out/accumulator.rnn H=64,D=64 1 65536 1 accumulator_T65536
case_ 3 out/accumulator_rnn.rnn H=64,D=64 1 4096 1 accumulator_rnn_T4096
case_ 3 out/accumulator_rnn.rnn H=64,D=64 1 65536 1 accumulator_rnn_T65536
case_ 3 out/expanding.rnn H=64,D=64 1 4096 1 expanding_T4096
# Artificial stall: a cap below what coRNN seed 1 needs (7-8 iterations).
case_ 3 stdlib:cornn H=64,D=64 1 4096 1 cornn_s1 --max-iterations 6
case_ 1 stdlib:cornn H=64,D=64 1 4096 4 cornn_s4
case_ 1 stdlib:cornn H=64,D=64 1 4096 6 cornn_s6
