"""examples/python/train_adding.py at its CI size reaches the solved level (a
held-out MSE below 0.01 against the baseline's 1/6) and writes its loss curve."""

import json
import subprocess
import sys
import xml.dom.minidom


def test_the_training_example_solves_the_adding_problem(root, tmp_path):
    script = root / "examples" / "python" / "train_adding.py"
    done = subprocess.run(
        [sys.executable, str(script), "--backend", "cpu", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 600 and (summary["hidden"], summary["seq"], summary["batch"]) == (32, 100, 32)
    assert summary["eval_mse"] < summary["solved_mse"] == 0.01, summary
    assert summary["solved"] is True and summary["eval_within_tolerance"] > 0.5
    assert "step   600/600" in done.stderr  # progress was shown
    svg = xml.dom.minidom.parse(str(tmp_path / "loss.svg"))
    assert len(svg.getElementsByTagName("polyline")) == 2
    rows = (tmp_path / "loss.csv").read_text().splitlines()
    assert rows[0] == "step,loss,average" and len(rows) == 601
