#!/usr/bin/env bash
# H200 x2 run 43: data parallel through torch.distributed (DDP, NCCL): the
# model of train_adding.py with para_gru at H = D = 1024 (examples/python/
# train_ddp.py), T = 8192, 8 sequences per GPU, on 1 then 2 GPUs of one host;
# 10 steps, the last 7 timed. Each process's layer runs on its own GPU (the
# Vulkan adapter with its CUDA device's UUID) through the device path.
# Carried: .gl, .whl (the cp312 wheel).
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
nvidia-smi -L
A="examples/python/train_ddp.py --backend gpu --hidden 1024 --width 1024 --seq 8192 --steps 10 --warmup 3 --eval 16"
timeout 200 python3 -m torch.distributed.run --standalone --nproc-per-node 1 $A --batch 8 | tee $OUT/ddp1.json
timeout 200 python3 -m torch.distributed.run --standalone --nproc-per-node 2 $A --batch 16 | tee $OUT/ddp2.json
