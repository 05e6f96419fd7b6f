#!/usr/bin/env bash
# H200 run 41: as run 40, after the host waits were cut to one per call
# (records written through the queue, no empty submission before a map);
# bench_layer.py also records rnnc's host wall time (`wall_ms`).
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
timeout 120 python3 -m pytest python/tests/test_exchange.py -q -p no:cacheprovider -x 2>&1 | tail -3
for c in para_gru_mh para_lstm_cifg_mh; do
  timeout 150 python3 examples/python/bench_layer.py --cell $c --T 512 2048 8192 --repeats 7 --out $OUT/$c.jsonl
done
