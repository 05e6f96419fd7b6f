"""The layer under PyTorch's DistributedDataParallel (CPU processes, gloo):
`examples/python/train_ddp.py` with two processes follows the one-process run
with the same global batch (the same losses up to rounding, the same held-out
error), and the two processes end with the same parameters."""

import json
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")


def run(root, processes):
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
        str(root / "examples" / "python" / "train_ddp.py"),
        "--steps", "25", "--seq", "30", "--batch", "8", "--hidden", "16", "--backend", "cpu",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_processes_follow_one_with_the_same_global_batch(root):
    one, two = run(root, 1), run(root, 2)
    assert (one["world"], two["world"]) == (1, 2)
    assert two["parameter_disagreement"] == 0.0
    assert len(one["losses"]) == len(two["losses"]) == 25
    for step, (a, b) in enumerate(zip(one["losses"], two["losses"])):
        assert abs(a - b) <= 1e-4 * max(abs(a), 1e-3), f"step {step}: {a} against {b}"
    assert abs(one["eval_mse"] - two["eval_mse"]) <= 1e-4 * one["eval_mse"]
    # Training moved the parameters: the losses are not those of the first step.
    assert one["losses"][-1] != one["losses"][0]
