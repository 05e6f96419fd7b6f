#!/bin/sh
# More candidates for a stall (fallback with 0 damped iterations), current
# behaviour (off), one run each: the test suite's own "may fall back" cells.
R=${R:-$PWD/target/release/rnnc}
case_() { # cell-file dims B T seed label [extra run args]
  f=$1; dims=$2; B=$3; T=$4; s=$5; label=$6; shift 6
  d=out/data/$label
  [ -f $d/params.safetensors ] || python3 out/gen_data.py $R $f $dims $B $T $s $d
  RNNC_STALL_TRACE=1 python3 out/run_case.py $R $f $d $label out/screen.jsonl 1 off -- "$@" | grep '^{'
}
for T in 4096 65536; do case_ out/dense_cross_state.rnn H=64,D=64 1 $T 1 dense_cross_state-H64-T$T; done
for T in 4096 65536; do case_ out/dense_cross_state.rnn H=12,D=5 1 $T 1 dense_cross_state-H12-T$T; done
case_ out/expanding.rnn H=12,D=5 2 1500 5 expanding-H12-T1500
case_ out/expanding.rnn H=12,D=5 2 4096 5 expanding-H12-T4096
for T in 500 3000; do
  d=out/data/logistic39-H8-T$T; python3 out/gen_data.py $R out/logistic39.rnn H=8,D=8 2 $T 4 $d
  python3 -c "import numpy as np; np.save('$d/init_h.npy', np.random.default_rng(4).uniform(0.1,0.9,(2,8)).astype(np.float32))"
  case_ out/logistic39.rnn H=8,D=8 2 $T 4 logistic39-H8-T$T
done
