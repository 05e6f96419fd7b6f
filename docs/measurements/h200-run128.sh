#!/usr/bin/env bash
# H200 run 128: run 127 again with one untimed call after each switch of way
# (WARM_UP=1), and the exchange's Rust tests.
# Carried: .whl (the cp312 wheel of this build), .devbin (the stripped
# `cargo test --release -p rnnc --test exchange` binary), .gl.
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; export XDG_RUNTIME_DIR=/tmp PYTHONUNBUFFERED=1
gunzip -f .devbin/*.gz; chmod +x .devbin/*
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
.devbin/exchange 2>&1 | tail -3 | tee $OUT/h200-run128-exchange-tests.txt
WARM_UP=1 timeout 300 python3 docs/measurements/h200-run127-in-place.py $OUT/h200-run128.jsonl 2>&1 | grep -v Warning | cut -c1-200
