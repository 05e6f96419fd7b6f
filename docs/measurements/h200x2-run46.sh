#!/usr/bin/env bash
# H200 x2 run 46: sequence parallel solving (rnnc.parallel) of one ParaGRU
# sequence, H = D = 1024, B = 1, T = 2^17 (the longest whose projections fit
# one binding on one GPU), on 1 then 2 GPUs. Carried: .gl, .whl.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
for n in 1 2; do
  timeout 200 python3 -m torch.distributed.run --standalone --nproc-per-node $n docs/measurements/h200x2-run46-seqpar.py --steps 131072 2>&1 | grep -E "^\{|Error" | tee -a $OUT/seqpar.jsonl; true
done
