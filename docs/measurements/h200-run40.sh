#!/usr/bin/env bash
# H200 run 40: the torch layer's device path (commit 0c7ae1f): pytest of the
# exchange and the layer on CUDA (the CUDA tests run there), then the layer's
# host and device paths, interleaved, with rnnc's own kernel times
# (examples/python/bench_layer.py: CUDA events, median of 7).
# Carried: .gl, .whl (the cp312 wheel: `cd python && maturin build --release
# --interpreter /root/.pyenv/versions/3.12.1/bin/python3.12`).
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
timeout 200 python3 -m pytest python/tests/test_exchange.py python/tests/test_torch.py -q -p no:cacheprovider -x 2>&1 | tail -25 | tee $OUT/pytest.txt
timeout 170 python3 examples/python/bench_layer.py --cell para_gru_mh --T 512 2048 8192 --repeats 7 --out $OUT/pg.jsonl
timeout 170 python3 examples/python/bench_layer.py --cell para_lstm_cifg_mh --T 512 2048 8192 --repeats 7 --out $OUT/pl.jsonl
