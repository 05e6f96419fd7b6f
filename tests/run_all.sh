#!/usr/bin/env bash
# Every test: the Rust workspace's (`cargo test --workspace --release`), then the
# Python package's: its wheel built by maturin into the same target dir (only
# the extension module and PyO3 are compiled again), installed into a virtual
# environment that sees the system's packages (numpy, torch, pytest, maturin:
# `.ci/run` installs them), and pytest over python/tests.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --release

python=${PYTHON:-python3}
venv=target/python-tests
"$python" -m venv --system-site-packages "$venv"
rm -f target/wheels/rnnc-*.whl
(cd python && maturin build --release --interpreter "../$venv/bin/python")
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps target/wheels/rnnc-*.whl
# From the repository root, so that `import rnnc` is the installed package, not python/rnnc/.
"$venv/bin/python" -m pytest python/tests -q -p no:cacheprovider
