#!/bin/sh
# Looking for stalls (fallback with 0 damped iterations) with the current
# behaviour (off): shorter sequences and tighter tolerances. One run each.
R=${R:-$PWD/target/release/rnnc}
case_() { # cell-file dims T label [extra run args]
  f=$1; dims=$2; T=$3; label=$4; shift 4
  d=out/data/$(basename $f .rnn)_T$T
  [ -f $d/params.safetensors ] || python3 out/gen_data.py $R $f $dims 1 $T 1 $d
  RNNC_STALL_TRACE=1 python3 out/run_case.py $R $f $d $label out/screen.jsonl 1 off -- "$@" | grep '^{'
}
for T in 16 32 64 128 256 512 1024; do case_ out/logistic.rnn H=64 $T logistic-T$T; done
for T in 64 256 1024; do case_ out/expanding.rnn H=64,D=64 $T expanding-T$T; done
for T in 256 1024 4096; do case_ out/accumulator_rnn.rnn H=64,D=64 $T accumulator_rnn-T$T; done
for rtol in 1e-6 1e-7; do case_ out/accumulator_rnn.rnn H=64,D=64 4096 accumulator_rnn-T4096-rtol$rtol --rtol $rtol --atol 1e-7; done
