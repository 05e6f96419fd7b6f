#!/usr/bin/env bash
# H200 run 32: Newton kernel variants around run 31's winners (issue 12):
# smaller workgroups, lanes per workgroup, chunk lengths, the chained guess;
# block_elman and T = 512 / 2048. RNNC_NEWTON knobs, RNNC_NEWTON_CHUNK; two
# rounds interleaved, median of 3, data resident. Carried: .devbin/rnnc, .gl.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
export XDG_RUNTIME_DIR=/tmp
B=.devbin/rnnc
J=$OUT/run32.jsonl
tag() { sed "s/^{/{\"variant\":\"$1\",/"; }
one() { # variant knobs chunk cell-args
  RNNC_NEWTON="$2" RNNC_NEWTON_CHUNK="$3" timeout 60 $B bench $4 --methods newton --repeat 3 --resident --json | tag "$1" | tee -a $J
}
pg="stdlib:para_gru --dims H=1024,D=1024 --batch 8 --seq 8192"
pl="stdlib:para_lstm --dims H=1024,D=1024 --batch 8 --seq 8192"
be="stdlib:block_elman --dims H=1024,D=1024 --batch 8 --seq 8192"
b1="stdlib:para_gru --dims H=256,D=256 --batch 1 --seq 65536"
for round in 1 2; do
  for cell in pg pl; do
    a=${!cell}
    one "$cell base" "" "" "$a"
    one "$cell t256" "threads=256" "" "$a"
    one "$cell t128" "threads=128" "" "$a"
    one "$cell t64" "threads=64" "" "$a"
    one "$cell t256 l4" "threads=256,lanes=4" "" "$a"
    one "$cell t256 l16" "threads=256,lanes=16" "" "$a"
    one "$cell t128 l4" "threads=128,lanes=4" "" "$a"
    one "$cell t256 n4" "threads=256" 4 "$a"
    one "$cell t256 n16" "threads=256" 16 "$a"
    one "$cell t128 n16" "threads=128" 16 "$a"
    one "$cell t256 chain" "threads=256,guess=chain" "" "$a"
    one "$cell t128 chain" "threads=128,guess=chain" "" "$a"
  done
  one "be base" "" "" "$be"
  one "be t256" "threads=256" "" "$be"
  one "be t128" "threads=128" "" "$be"
  one "be t256 n8" "threads=256" 8 "$be"
  one "b1 l1 t512" "lanes=1,threads=512" "" "$b1"
  one "b1 l1 t512 chain" "lanes=1,threads=512,guess=chain" "" "$b1"
  one "b1 l1 t512 n16" "lanes=1,threads=512" 16 "$b1"
  one "b1 l1 t256 n16" "lanes=1,threads=256" 16 "$b1"
  one "b1 l1 t1024 n16" "lanes=1,threads=1024" 16 "$b1"
  one "b1 l1 t128" "lanes=1,threads=128" "" "$b1"
  one "b1 l2 t512" "lanes=2,threads=512" "" "$b1"
  for T in 512 2048; do
    for c in para_gru para_lstm; do
      a="stdlib:$c --dims H=1024,D=1024 --batch 8 --seq $T"
      one "$c T$T base" "" "" "$a"
      one "$c T$T t256" "threads=256" "" "$a"
      one "$c T$T t128" "threads=128" "" "$a"
    done
  done
done
