#!/bin/sh
# coRNN, H = D = 64, B = 1, T = 4096, rnnc's random data of seeds 1..8: the
# current behaviour (off), one run each, per-segment trace.
R=${R:-$PWD/target/release/rnnc}
for s in 1 2 3 4 5 6 7 8; do
  python3 out/gen_data.py $R stdlib:cornn H=64,D=64 1 4096 $s out/data/cornn_s$s
  RNNC_STALL_TRACE=1 python3 out/run_case.py $R stdlib:cornn out/data/cornn_s$s cornn-H64-B1-T4096-s$s out/screen.jsonl 1 off
done
