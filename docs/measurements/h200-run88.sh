#!/usr/bin/env bash
# H200 run 88: training end to end through the device path with calls ordered
# on the device (RNNC_TORCH_ORDERED=1, the default) against host-ordered (=0):
# examples/python/train_ddp.py on one GPU (torchrun, 1 process), para_gru at
# H = D = 1024, T = 2048, batch 8, 40 steps (the last 32 timed), the two
# interleaved twice; the same seed, so the losses should agree.
# Carried: .whl (cp312 wheel), .gl.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
A="examples/python/train_ddp.py --backend gpu --hidden 1024 --width 1024 --seq 2048 --batch 8 --steps 40 --warmup 8 --eval 16 --lr 1e-3"
for round in 1 2; do
  for ordered in 0 1; do
    RNNC_TORCH_ORDERED=$ordered timeout 150 python3 -m torch.distributed.run --standalone --nproc-per-node 1 $A 2>/dev/null | tail -1 | sed "s/^{/{\"ordered\": $ordered, /" | tee -a $OUT/run88.jsonl
  done
done
