#!/bin/sh
# Stall hunt on the accumulator cells at T = 65536, several sizes and seeds (off).
R=${R:-$PWD/target/release/rnnc}
case_() { # cell-file dims B T seed label [extra run args]
  f=$1; dims=$2; B=$3; T=$4; s=$5; label=$6; shift 6
  d=out/data/$label
  [ -f $d/params.safetensors ] || python3 out/gen_data.py $R $f $dims $B $T $s $d
  RNNC_STALL_TRACE=1 python3 out/run_case.py $R $f $d $label out/screen.jsonl 1 off -- "$@" | grep '^{'
  rm -f $d/out_*.npy
}
for s in 2 3 4 5 6; do case_ out/dense_cross_state.rnn H=12,D=5 1 65536 $s dense_cross_state-H12-T65536-s$s; done
for s in 1 2; do case_ out/dense_cross_state.rnn H=8,D=8 1 65536 $s dense_cross_state-H8-T65536-s$s; done
for s in 1 2; do case_ out/dense_cross_state.rnn H=32,D=32 1 65536 $s dense_cross_state-H32-T65536-s$s; done
for s in 1 2; do case_ out/accumulator_rnn.rnn H=12,D=5 1 65536 $s accumulator_rnn-H12-T65536-s$s; done
