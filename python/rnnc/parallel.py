"""rnnc.parallel: one long sequence solved across processes (sequence parallel).

The sequence is cut along T into one slice per process of a `torch.distributed`
group, in rank order. Each process solves its slice at once from a guessed
entry state (zero; rank 0 from the true initial state), then corrects it: the
true entry state arrives from the previous rank, and only a prefix of the slice
is solved again from it, doubling until the state at the prefix's end agrees
with the guessed trajectory (a contracting recurrence forgets its entry state);
the corrected exit state goes on to the next rank. The backward pass mirrors
it: each slice's gradients from a zero cotangent at its exit, then the exit's
true cotangent from the next rank, whose effect (linear in it) is computed on
a suffix of the slice, doubling until it has faded at the suffix's start. The
states between slices (B x H words) are the only exchange, through the
group's point-to-point sends; the parameters' gradients are summed over the
group. rnnc adds no transport of its own.

Every state of the cell must also be an output of the same name (its value
after each step, as `output h;` gives), so that a slice's exit state and the
cotangent on it are its outputs' last step.

    out, ctx = rnnc.parallel.forward(cell, params, {"x": x_slice})      # every rank
    grads = rnnc.parallel.backward(cell, params, {"x": x_slice}, {"h": dh_slice}, ctx)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional

import numpy as np

__all__ = ["forward", "backward", "SliceContext"]

Arrays = Dict[str, np.ndarray]


@dataclass
class SliceContext:
    """What a slice's forward keeps for its backward: its true entry states,
    its (corrected) outputs, how many steps each correction took, and the
    report of every solve (forward and backward) it ran."""

    entry: Arrays
    outputs: Arrays
    prefix_steps: int = 0
    suffix_steps: int = 0
    reports: list = field(default_factory=list)


def _group(group):
    import torch.distributed as dist

    return dist, dist.get_rank(group), dist.get_world_size(group)


def _check_cell(cell) -> None:
    missing = [s for s in cell.states if s not in cell.outputs]
    if missing:
        raise ValueError(
            f"cell `{cell.name}`: sequence parallel solving needs every state as an output of the same name; "
            f"{', '.join(missing)} is not"
        )


def _transport(dist, group):
    """The tensors' device for the group's backend (NCCL sends CUDA tensors)."""
    import torch

    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _send(dist, group, arrays: Arrays, names, to: int) -> None:
    import torch

    device = _transport(dist, group)
    for name in names:
        tensor = torch.from_numpy(np.ascontiguousarray(arrays[name], dtype=np.float32)).to(device)
        dist.send(tensor, dist.get_global_rank(group, to) if group else to, group=group)


def _recv(dist, group, shapes: Mapping[str, tuple], frm: int) -> Arrays:
    import torch

    device = _transport(dist, group)
    out = {}
    for name, shape in shapes.items():
        buffer = torch.empty(shape, dtype=torch.float32, device=device)
        dist.recv(buffer, dist.get_global_rank(group, frm) if group else frm, group=group)
        out[name] = buffer.cpu().numpy()
    return out


def _close(a: np.ndarray, b: np.ndarray, atol: float, rtol: float) -> bool:
    return bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))


def _slice(arrays: Arrays, start: int, stop: int) -> Arrays:
    return {name: np.ascontiguousarray(a[:, start:stop]) for name, a in arrays.items()}


def forward(
    cell,
    params: Mapping[str, np.ndarray],
    inputs: Mapping[str, np.ndarray],
    init: Optional[Mapping[str, np.ndarray]] = None,
    group=None,
    prefix: int = 64,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    **options,
):
    """This rank's slice of the outputs of one sequence solved across `group`
    (default: the whole world), and the context for `backward`. `inputs` are
    this rank's slice (`[B, T_r, D]`); `init` the sequence's initial states
    (read on rank 0 only); `prefix` the first correction's steps; `atol` and
    `rtol` the agreement asked of the corrected and guessed states; `options`
    go to `Cell.forward` (method, tolerances)."""
    _check_cell(cell)
    dist, rank, world = _group(group)
    batch, steps = next(iter(inputs.values())).shape[:2]
    guess = dict(init or {}) if rank == 0 else None
    outputs, report = cell.forward(dict(params), dict(inputs), guess or None, **options)
    reports = [report]
    sizes = {s: (batch, outputs[s].shape[2]) for s in cell.states}
    if rank == 0:
        entry = {
            s: np.asarray(guess[s], np.float32) if guess and s in guess else np.zeros(sizes[s], np.float32)
            for s in cell.states
        }
        corrected = 0
    else:
        entry = _recv(dist, group, sizes, rank - 1)
        corrected, k = steps, max(1, prefix)
        while k < steps:
            part, r = cell.forward(dict(params), _slice(inputs, 0, k), entry, **options)
            reports.append(r)
            if all(_close(part[s][:, -1], outputs[s][:, k - 1], atol, rtol) for s in cell.states):
                for o in cell.outputs:
                    outputs[o][:, :k] = part[o]
                corrected = k
                break
            k *= 2
        else:
            outputs, r = cell.forward(dict(params), dict(inputs), entry, **options)
            reports.append(r)
    if rank < world - 1:
        _send(dist, group, {s: outputs[s][:, -1] for s in cell.states}, cell.states, rank + 1)
    return outputs, SliceContext(entry=entry, outputs=outputs, prefix_steps=corrected, reports=reports)


def _backward(cell, params, inputs, douts, init, ctx: SliceContext, options) -> Arrays:
    """`Cell.backward`'s gradients (as float32 arrays of their own), its
    report kept in `ctx.reports`."""
    _, _, tape = cell.forward_tape(dict(params), dict(inputs), dict(init), **options)
    grads, report = tape.backward(douts)
    ctx.reports.append(report)
    return {k: np.array(v, np.float32) for k, v in grads.items()}


def backward(
    cell,
    params: Mapping[str, np.ndarray],
    inputs: Mapping[str, np.ndarray],
    douts: Mapping[str, np.ndarray],
    ctx: SliceContext,
    group=None,
    suffix: int = 64,
    atol: float = 1e-6,
    rtol: float = 1e-4,
    **options,
) -> Arrays:
    """The gradients of `sum over outputs of sum(douts * outputs)` for this
    rank's slice, keyed as `Cell.backward`'s: `param.*` summed over the group
    (every rank gets the whole sequence's), `input.*` this slice's, `init.*`
    the sequence's initial states' (rank 0; zero elsewhere)."""
    import torch

    dist, rank, world = _group(group)
    steps = next(iter(inputs.values())).shape[1]
    full = {o: np.asarray(douts[o], np.float32) if o in douts else np.zeros_like(ctx.outputs[o]) for o in cell.outputs}
    grads = _backward(cell, params, inputs, full, ctx.entry, ctx, options)
    shapes = {s: ctx.entry[s].shape for s in cell.states}
    if rank < world - 1:
        cotangent = _recv(dist, group, shapes, rank + 1)
        scale = max(float(np.abs(c).max()) for c in cotangent.values())
        k = max(1, suffix)
        while True:
            start = max(0, steps - k)
            init = ctx.entry if start == 0 else {s: ctx.outputs[s][:, start - 1] for s in cell.states}
            late = {
                o: np.zeros((ctx.outputs[o].shape[0], steps - start, ctx.outputs[o].shape[2]), np.float32)
                for o in cell.outputs
            }
            for s in cell.states:
                late[s][:, -1] = cotangent[s]
            part = _backward(cell, params, _slice(inputs, start, steps), late, init, ctx, options)
            faded = all(np.abs(part[f"init.{s}"]).max() <= atol + rtol * scale for s in cell.states)
            if start == 0 or faded:
                for key, value in part.items():
                    if key.startswith("param."):
                        grads[key] += value
                    elif key.startswith("input."):
                        grads[key][:, start:] += value
                    elif start == 0:
                        grads[key] += value
                ctx.suffix_steps = steps - start
                break
            k *= 2
    if rank > 0:
        _send(dist, group, {s: grads[f"init.{s}"] for s in cell.states}, cell.states, rank - 1)
        for s in cell.states:
            grads[f"init.{s}"] = np.zeros_like(grads[f"init.{s}"])
    for key in [k for k in grads if k.startswith("param.")]:
        total = torch.from_numpy(grads[key]).to(_transport(dist, group))
        dist.all_reduce(total, group=group)
        grads[key] = total.cpu().numpy()
    return grads
