#!/usr/bin/env bash
# H200 x2 run 45: DDP throughput as runs 43-44 with Adam's rate 1e-3 (at 1e-2
# the one-GPU run, global batch 8, diverged in run 44, and its solves slowed
# down: no like-for-like comparison), 1 and 2 GPUs interleaved twice; then the
# layer at B = 16 (more than one pass holds at T = 8192): the device path
# refuses it at the exchange and the layer falls back to the host path with a
# warning.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
A="examples/python/train_ddp.py --backend gpu --hidden 1024 --width 1024 --seq 8192 --steps 12 --warmup 4 --eval 16 --lr 1e-3"
for round in 1 2; do
  timeout 150 python3 -m torch.distributed.run --standalone --nproc-per-node 1 $A --batch 8 2>/dev/null | tail -1 >> $OUT/ddp1.jsonl
  timeout 150 python3 -m torch.distributed.run --standalone --nproc-per-node 2 $A --batch 16 2>/dev/null | tail -1 >> $OUT/ddp2.jsonl
done
timeout 120 python3 - <<'PY' 2>&1 | tee $OUT/large.txt
import torch, rnnc.torch as rt
layer = rt.Recurrent("para_gru", {"H": 1024, "D": 1024}, backend="gpu").cuda()
h = layer(torch.randn(16, 8192, 1024, device="cuda"))
print("B = 16: device path", layer.device_path_active, "failures", layer._device_path_failures)
h = layer(torch.randn(8, 8192, 1024, device="cuda"))
print("B = 8: device path", layer.device_path_active)
PY
