#!/bin/sh
# Stall hunt: tolerances below float32's reach (off), and more accumulator data.
R=${R:-$PWD/target/release/rnnc}
case_() { # cell-file dims B T seed label [extra run args]
  f=$1; dims=$2; B=$3; T=$4; s=$5; label=$6; shift 6
  d=out/data/$label
  [ -f $d/params.safetensors ] || python3 out/gen_data.py $R $f $dims $B $T $s $d
  RNNC_STALL_TRACE=1 python3 out/run_case.py $R $f $d $label out/screen.jsonl 1 off -- "$@" | grep '^{'
  rm -f $d/out_*.npy
}
case_ stdlib:para_gru H=64,D=64 1 4096 1 para_gru-T4096-tight --rtol 1e-8 --atol 1e-10
case_ stdlib:indrnn H=64,D=64 1 4096 1 indrnn-T4096-tight --rtol 1e-8 --atol 1e-10
case_ stdlib:slstm H=64,D=64 1 4096 1 slstm-T4096-tight --rtol 1e-8 --atol 1e-10
case_ out/accumulator_rnn.rnn H=64,D=64 1 4096 1 accumulator_rnn-T4096-tight --rtol 1e-8 --atol 1e-10
case_ out/dense_cross_state.rnn H=12,D=5 4 65536 7 dense_cross_state-H12-B4-T65536-s7
