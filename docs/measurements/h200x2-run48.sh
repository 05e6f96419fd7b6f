#!/usr/bin/env bash
# H200 x2 run 48, with sequence parallel solving in the Rust API (rnnc::parallel,
# Python's rnnc.parallel its transport): (1) run 47's measurement again
# (h200x2-run46-seqpar.py, T = 126976, 1 then 2 GPUs); (2) the two-GPU result
# against the one-GPU one (h200x2-run48-check.py); (3) DDP with the same
# global batch on 1 and 2 GPUs (train_ddp.py at its default size, 30 steps):
# the losses. Carried: .gl, .whl.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
R="python3 -m torch.distributed.run --standalone"
for n in 1 2; do
  timeout 150 $R --nproc-per-node $n docs/measurements/h200x2-run46-seqpar.py --steps 126976 2>&1 | grep -E "^\{|Error" | tee -a $OUT/seqpar48.jsonl
done
timeout 120 $R --nproc-per-node 2 docs/measurements/h200x2-run48-check.py 2>&1 | grep -E "^\{|Error" | tee $OUT/check48.jsonl
for n in 1 2; do
  timeout 120 $R --nproc-per-node $n examples/python/train_ddp.py --backend gpu --steps 30 2>/dev/null | tail -1 > $OUT/ddp48-$n.json
done
python3 -c "
import json
a, b = (json.load(open('$OUT/ddp48-%d.json' % n)) for n in (1, 2))
print('ddp same global batch: largest relative loss difference', max(abs(x - y) / abs(x) for x, y in zip(a['losses'], b['losses'])), 'eval', a['eval_mse'], b['eval_mse'], 'device path', a['device_path'], b['device_path'])
" | tee $OUT/ddp48.txt
