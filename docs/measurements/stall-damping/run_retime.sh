#!/bin/sh
# Second pass on the stall cases (timing again; a CI build/test was running on
# the 2 cores during run_all.sh) and controls. Results: out/results_retime.jsonl.
R=${R:-$PWD/target/release/rnnc}
case_() { # variants repeat cell-file label [extra run args]
  v=$1; n=$2; f=$3; label=$4; shift 4
  RNNC_STALL_TRACE=1 python3 out/run_case.py $R $f out/data/$label $label out/results_retime.jsonl $n $v -- "$@" | grep '^{'
}
ctl() { # a copy of a case's data under another label (so its traces are kept)
  mkdir -p out/data/$2; ln -sf ../$1/params.safetensors out/data/$2/; for x in out/data/$1/*.npy; do case $x in */out_*) ;; *) ln -sf ../$1/$(basename $x) out/data/$2/;; esac; done
}
uptime
case_ off,restart,continue 3 out/dense_cross_state.rnn dense_cross_state-H12-T65536
case_ off,restart,continue 3 out/dense_cross_state.rnn dense_cross_state-H12-B4-T65536-s7
ctl dense_cross_state-H12-B4-T65536-s7 dense_cross_state-H12-B4-T65536-s7-cap64
case_ off 1 out/dense_cross_state.rnn dense_cross_state-H12-B4-T65536-s7-cap64 --max-iterations 64
ctl cornn_s1 cornn_s1-cap12
case_ off 3 stdlib:cornn cornn_s1-cap12 --max-iterations 12
uptime
