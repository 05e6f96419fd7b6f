#!/usr/bin/env bash
# H200 run 69: the PyTorch layer (`rnnc.torch.Recurrent` on CUDA tensors,
# host path and device path) on the current build, as run 41 measured it
# before the kernels of runs 43 to 66; then run 42's profile of where the
# device path's overhead goes (ParaGRU, T = 2048).
# Carried: .whl (the cp312 wheel built here), .gl.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
timeout 120 python3 -m pytest python/tests/test_exchange.py -q -p no:cacheprovider -x 2>&1 | tail -3
for c in para_gru_mh para_lstm_cifg_mh; do
  timeout 170 python3 examples/python/bench_layer.py --cell $c --T 512 2048 8192 --repeats 7 --out $OUT/$c.jsonl | tail -20
done
timeout 100 python3 docs/measurements/h200-run42-profile.py > $OUT/profile.json; cat $OUT/profile.json
# Raw: h200-run69-para_gru_mh.jsonl, h200-run69-para_lstm_cifg_mh.jsonl,
# h200-run69-profile.json.
