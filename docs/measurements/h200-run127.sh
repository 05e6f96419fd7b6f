#!/usr/bin/env bash
# H200 run 127: the exchange bound in place, against the copies
# (h200-run127-in-place.py); first the exchange's Rust tests and the Python
# exchange and torch tests on the H200 with CUDA.
# Carried: .whl (the cp312 wheel of this build), .devbin (the stripped
# `cargo test --release -p rnnc --test exchange` binary), .gl.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
gunzip -f .devbin/*.gz; chmod +x .devbin/*
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
.devbin/exchange 2>&1 | tail -3
timeout 200 python3 -m pytest -q -x python/tests/test_exchange.py python/tests/test_torch.py 2>&1 | tail -3
timeout 300 python3 docs/measurements/h200-run127-in-place.py $OUT/h200-run127.jsonl 2>&1 | grep -v Warning
