"""rnnc.parallel: one long sequence solved across processes (sequence parallel).

The sequence is cut along T into one slice per process of a `torch.distributed`
group, in rank order. Each process solves its slice at once from a guessed
entry state, then corrects only a prefix of it from the true entry state that
the previous rank sends (doubling until the states agree: a contracting
recurrence forgets its entry state); the backward pass mirrors it with a
suffix. The algorithm is rnnc's (`rnnc::parallel`, `Cell.forward_slice`);
this module supplies its neighbours over the group's point-to-point sends and
all-reduce (`TorchNeighbours`): the states between slices (B x H words) and
the parameters' gradient sum are the only exchange. rnnc adds no transport of
its own.

Every state of the cell must also be an output of the same name (its value
after each step, as `output h;` gives).

    out, ctx = rnnc.parallel.forward(cell, params, {"x": x_slice})      # every rank
    grads = rnnc.parallel.backward(ctx, {"h": dh_slice})
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional

import numpy as np

__all__ = ["forward", "backward", "TorchNeighbours"]

Arrays = Dict[str, np.ndarray]


class TorchNeighbours:
    """A rank's neighbours in a `torch.distributed` group (default: the
    world), as `Cell.forward_slice` asks for them: float32 vectors to and from
    the previous and next ranks, and a sum over the group."""

    def __init__(self, group=None) -> None:
        import torch
        import torch.distributed as dist

        self.dist, self.group = dist, group
        self.rank, self.world = dist.get_rank(group), dist.get_world_size(group)
        nccl = dist.get_backend(group) == "nccl"
        self.device = torch.device("cuda", torch.cuda.current_device()) if nccl else torch.device("cpu")

    def _peer(self, rank: int) -> int:
        return self.dist.get_global_rank(self.group, rank) if self.group is not None else rank

    def _send(self, arrays: List[np.ndarray], to: int) -> None:
        import torch

        for array in arrays:
            self.dist.send(torch.from_numpy(np.ascontiguousarray(array, np.float32)).to(self.device), self._peer(to), group=self.group)

    def _recv(self, lens: List[int], frm: int) -> List[np.ndarray]:
        import torch

        out = []
        for n in lens:
            buffer = torch.empty(n, dtype=torch.float32, device=self.device)
            self.dist.recv(buffer, self._peer(frm), group=self.group)
            out.append(buffer.cpu().numpy())
        return out

    def send_next(self, states: List[np.ndarray]) -> None:
        self._send(states, self.rank + 1)

    def recv_prev(self, lens: List[int]) -> List[np.ndarray]:
        return self._recv(lens, self.rank - 1)

    def send_prev(self, cotangents: List[np.ndarray]) -> None:
        self._send(cotangents, self.rank - 1)

    def recv_next(self, lens: List[int]) -> List[np.ndarray]:
        return self._recv(lens, self.rank + 1)

    def sum(self, values: np.ndarray) -> np.ndarray:
        import torch

        total = torch.from_numpy(np.ascontiguousarray(values, np.float32)).to(self.device)
        self.dist.all_reduce(total, group=self.group)
        return total.cpu().numpy()


def forward(
    cell,
    params: Mapping[str, np.ndarray],
    inputs: Mapping[str, np.ndarray],
    init: Optional[Mapping[str, np.ndarray]] = None,
    group=None,
    steps: int = 64,
    **options,
):
    """This rank's slice of the outputs of one sequence solved across `group`
    (default: the whole world), and the `rnnc.Slice` for `backward` (its
    `prefix_steps`, `suffix_steps`, `reports`). `inputs` are this rank's slice
    (`[B, T_r, D]`); `init` the sequence's initial states (read on rank 0
    only); `steps` the first correction's length; `options` go to the solver
    (method, tolerances). A cell whose states are not outputs raises
    `ValueError` naming them."""
    ctx = cell.forward_slice(dict(params), dict(inputs), TorchNeighbours(group), dict(init or {}), steps, **options)
    return ctx.outputs, ctx


def backward(ctx, douts: Mapping[str, np.ndarray], group=None) -> Arrays:
    """The gradients of `sum over outputs of sum(douts * outputs)` for the
    slice of `ctx` (`forward`'s), keyed as `Cell.backward`'s: `param.*` summed
    over the group (every rank gets the whole sequence's), `input.*` this
    slice's, `init.*` the sequence's initial states' (rank 0; zero elsewhere)."""
    return ctx.backward(dict(douts), TorchNeighbours(group))
