#!/usr/bin/env bash
# H200 x2 run 44: as run 43 (DDP through torch.distributed, para_gru at
# H = D = 1024, T = 8192, 8 sequences per GPU), the 1- and 2-GPU runs
# interleaved twice, 12 steps each with the last 8 timed; held-out batches of
# 8 on every run. Then an exchange longer than one binding (B = 16, 2.2 GB):
# the layer's device path at B = 16, forward + backward, against its host path.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
A="examples/python/train_ddp.py --backend gpu --hidden 1024 --width 1024 --seq 8192 --steps 12 --warmup 4 --eval 16"
for round in 1 2; do
  timeout 150 python3 -m torch.distributed.run --standalone --nproc-per-node 1 $A --batch 8 2>/dev/null | tail -1 >> $OUT/ddp1.jsonl
  timeout 150 python3 -m torch.distributed.run --standalone --nproc-per-node 2 $A --batch 16 2>/dev/null | tail -1 >> $OUT/ddp2.jsonl
done
timeout 120 python3 - <<'PY' | tee $OUT/large.txt
import warnings, torch, rnnc.torch as rt
warnings.simplefilter("error")
torch.manual_seed(0)
dims = {"H": 1024, "D": 1024}
dev = rt.Recurrent("para_gru", dims, backend="gpu", device_path=True).cuda()
host = rt.Recurrent(dev.cell, dims, device_path=False).cuda()
host.load_state_dict(dev.state_dict())
x = torch.randn(16, 8192, 1024, device="cuda")
out = []
for layer in (dev, host):
    xi = x.clone().requires_grad_(True)
    h = layer(xi)
    h.pow(2).mean().backward()
    out.append((h.detach(), xi.grad, layer.Bz.grad))
ex = next(iter(dev._exchanges.values()))[0].cuda.exchange
print("exchange bytes", ex.nbytes, "device path", dev.device_path_active)
for name, a, b in zip(("h", "dx", "dBz"), out[0], out[1]):
    print(name, "max rel diff", ((a - b).abs().max() / b.abs().max()).item())
PY
