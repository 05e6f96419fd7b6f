"""Trains a PyTorch model with an rnnc cell at its core on the adding problem.

The task (Hochreiter & Schmidhuber, 1997; in the form of Le et al., 2015): each
step of a sequence carries a value uniform in [0, 1) and a marker; two steps are
marked, one in each half; the target is the sum of the two marked values. Always
answering 1 scores a mean squared error of 1/6 (the baseline); an MSE below
0.01 counts as solved (as examples/train_adding, docs/TRAINING.md).

The model: x [B, T, 2] -> nn.Linear(2, W) -> rnnc's para_gru (rnnc.torch.Recurrent,
H channels, chrono-initialised update gate) -> nn.Linear(H, 1) on the last step.
PyTorch's Adam trains every parameter; the cell's forward and backward passes
are rnnc's.

    python examples/python/train_adding.py                  # CI size, on the CPU
    python examples/python/train_adding.py --backend auto   # the best GPU
    python examples/python/train_adding.py --full           # H = 256, T = 1000: a large GPU

It prints progress, writes the loss curve (loss.svg, loss.csv) to --out, and
ends with one JSON line holding the numbers (held-out MSE, baseline, time).
"""

import argparse
import json
import math
import pathlib
import sys
import time

import torch
from torch import nn

import rnnc.torch

BASELINE_MSE = 1.0 / 6.0
SOLVED_MSE = 0.01
TOLERANCE = 0.08  # a sequence is answered correctly within this of its target
AVERAGE_WINDOW = 50


def sample(generator: torch.Generator, batch: int, steps: int):
    """A batch of the adding problem: inputs [B, T, 2] and targets [B]."""
    values = torch.rand(batch, steps, generator=generator)
    half = steps // 2
    first = torch.randint(0, half, (batch,), generator=generator)
    second = torch.randint(half, steps, (batch,), generator=generator)
    markers = torch.zeros(batch, steps)
    rows = torch.arange(batch)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    targets = values[rows, first] + values[rows, second]
    return torch.stack([values, markers], dim=-1), targets


class AddingModel(nn.Module):
    """Linear input layer -> rnnc para_gru -> linear readout of the last step."""

    def __init__(self, width: int, hidden: int, steps: int, backend: str, method: str):
        super().__init__()
        self.embed = nn.Linear(2, width)
        self.cell = rnnc.torch.Recurrent(
            "para_gru",
            dims={"H": hidden, "D": width},
            init=rnnc.torch.chrono_init(steps),
            backend=backend,
            method=method,
        )
        self.readout = nn.Linear(hidden, 1)
        with torch.no_grad():
            self.readout.bias.fill_(1.0)  # the target's mean

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.cell(self.embed(x))  # [B, T, H]
        return self.readout(h[:, -1]).squeeze(-1)


def loss_svg(losses, average, title: str) -> str:
    """The loss per step and its moving average on a log axis, with the baseline
    and the solved level, as SVG text written by hand."""
    width, height, left, right, top, bottom = 800, 480, 80, 20, 40, 60
    low = math.floor(math.log10(max(min(min(losses), SOLVED_MSE / 2), 1e-6)))
    high = math.ceil(math.log10(max(max(losses), BASELINE_MSE * 2)))
    x_of = lambda i: left + (width - left - right) * i / max(len(losses) - 1, 1)
    y_of = lambda v: top + (height - top - bottom) * (high - math.log10(max(v, 10.0**low))) / (high - low)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="15">{title}</text>',
    ]
    for decade in range(low, high + 1):
        y = y_of(10.0**decade)
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">1e{decade}</text>')
    for step in range(0, len(losses) + 1, max(len(losses) // 6, 1)):
        x = x_of(min(step, len(losses) - 1))
        out.append(f'<text x="{x:.1f}" y="{height - bottom + 18}" text-anchor="middle">{step}</text>')
    out.append(f'<text x="{width / 2}" y="{height - 16}" text-anchor="middle">training step</text>')
    out.append(f'<text x="18" y="{height / 2}" transform="rotate(-90 18 {height / 2})" text-anchor="middle">MSE</text>')
    for label, value, color in [("baseline 1/6", BASELINE_MSE, "#c33"), (f"solved &lt; {SOLVED_MSE}", SOLVED_MSE, "#393")]:
        y = y_of(value)
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{color}" stroke-dasharray="6 4"/>')
        out.append(f'<text x="{width - right - 4}" y="{y - 4:.1f}" text-anchor="end" fill="{color}">{label}</text>')
    for series, color, stroke in [(losses, "#9bd", 1), (average, "#147", 2)]:
        points = " ".join(f"{x_of(i):.1f},{y_of(v):.1f}" for i, v in enumerate(series))
        out.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="{stroke}"/>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def moving_average(values, window):
    averages, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        averages.append(total / min(i + 1, window))
    return averages


def evaluate(model, batches):
    """The held-out MSE and the fraction of sequences within TOLERANCE."""
    with torch.no_grad():
        errors = torch.cat([model(x) - targets for x, targets in batches])
    return errors.pow(2).mean().item(), (errors.abs() < TOLERANCE).float().mean().item()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="H = 256, T = 1000, B = 64, 700 steps, lr 3e-3 (a large GPU)")
    parser.add_argument("--hidden", type=int, help="channels H (CI size: 32)")
    parser.add_argument("--seq", type=int, help="sequence length T (CI size: 100)")
    parser.add_argument("--batch", type=int, help="sequences per batch B (CI size: 32)")
    parser.add_argument("--steps", type=int, help="training steps (CI size: 600)")
    parser.add_argument("--lr", type=float, help="Adam's learning rate (CI size: 1e-2)")
    parser.add_argument("--width", type=int, default=8, help="the input layer's width W")
    parser.add_argument("--clip", type=float, default=1.0, help="the gradients' global norm is clipped to this")
    parser.add_argument("--backend", default="cpu", choices=["auto", "gpu", "cpu"])
    parser.add_argument("--method", default="auto", choices=["auto", "newton", "sequential"])
    parser.add_argument("--eval", type=int, default=1024, help="held-out sequences")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="target/train_adding_py", help="where loss.svg and loss.csv go")
    args = parser.parse_args(argv)
    preset = dict(hidden=256, seq=1000, batch=64, steps=700, lr=3e-3) if args.full else dict(
        hidden=32, seq=100, batch=32, steps=600, lr=1e-2
    )
    settings = {key: getattr(args, key) if getattr(args, key) is not None else value for key, value in preset.items()}
    hidden, seq, batch, steps, lr = (settings[k] for k in ["hidden", "seq", "batch", "steps", "lr"])
    if seq < 2 or min(hidden, batch, steps, args.width, args.eval) < 1 or not lr > 0:
        parser.error("sizes must be positive, --seq at least 2, --lr positive")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(args.seed)
    model = AddingModel(args.width, hidden, seq, args.backend, args.method)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    train_generator = torch.Generator().manual_seed(args.seed)
    eval_generator = torch.Generator().manual_seed(args.seed + 10_000)
    eval_batches = [sample(eval_generator, batch, seq) for _ in range(math.ceil(args.eval / batch))]
    print(
        f"para_gru (H = {hidden}) on {model.cell.cell.device}: the adding problem, T = {seq}, B = {batch}, "
        f"{steps} steps, Adam lr = {lr}",
        file=sys.stderr,
    )

    losses, begin = [], time.perf_counter()
    for step in range(1, steps + 1):
        x, targets = sample(train_generator, batch, seq)
        loss = (model(x) - targets).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        losses.append(loss.item())
        if step % 50 == 0 or step == steps:
            average = sum(losses[-AVERAGE_WINDOW:]) / len(losses[-AVERAGE_WINDOW:])
            elapsed = time.perf_counter() - begin
            print(
                f"step {step:5d}/{steps}  loss {average:.5f} (last {AVERAGE_WINDOW})  {elapsed:6.1f} s",
                file=sys.stderr,
                flush=True,
            )
    seconds = time.perf_counter() - begin

    eval_mse, within = evaluate(model, eval_batches)
    average = moving_average(losses, AVERAGE_WINDOW)
    title = f"para_gru through rnnc.torch on the adding problem: H = {hidden}, T = {seq}, B = {batch}"
    (out / "loss.svg").write_text(loss_svg(losses, average, title))
    (out / "loss.csv").write_text(
        "step,loss,average\n" + "".join(f"{i + 1},{l},{a}\n" for i, (l, a) in enumerate(zip(losses, average)))
    )
    print(
        f"trained in {seconds:.1f} s: held-out MSE {eval_mse:.5f} ({100 * within:.1f}% within {TOLERANCE}), "
        f"baseline {BASELINE_MSE:.4f}, solved below {SOLVED_MSE}: {'yes' if eval_mse < SOLVED_MSE else 'no'}",
        file=sys.stderr,
    )
    summary = {
        "task": "adding",
        "baseline_mse": BASELINE_MSE,
        "solved_mse": SOLVED_MSE,
        "eval_mse": eval_mse,
        "eval_within_tolerance": within,
        "final_train_mse": average[-1],
        "solved": eval_mse < SOLVED_MSE,
        "seconds": seconds,
        "steps": steps,
        "hidden": hidden,
        "seq": seq,
        "batch": batch,
        "lr": lr,
        "device": model.cell.cell.device,
        "last_report": model.cell.last_report,
        "out": str(out),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
