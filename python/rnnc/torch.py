"""rnnc.torch: an rnnc cell as a PyTorch layer.

`Recurrent` is a `torch.nn.Module` owning the cell's parameters as
`nn.Parameter`s; calling it runs the cell forward through rnnc (one
`Cell.forward_tape`), and `loss.backward()` runs rnnc's backward pass on the
tape that forward kept (`Tape.backward`), inside one `torch.autograd.Function`.

Data crosses through host memory: CPU float32 tensors are read in place, any
other tensor (CUDA, float64) is copied to a host float32 tensor first; outputs
and gradients come back on each tensor's own device and in its dtype. The
computation itself is float32.

CUDA tensors take the device path instead where it is available (an rnnc GPU
engine on the same GPU, with memory it can export to CUDA): every tensor is
copied on the device into an `rnnc.Exchange` that CUDA maps (`rnnc.cuda`), and
outputs and gradients are copied out of it, so nothing crosses the host.
`Recurrent(..., device_path=False)` keeps the host path; `True` raises where
the device path is unavailable (the default falls back with one warning).

    import torch, rnnc.torch
    layer = rnnc.torch.Recurrent("para_gru", dims={"H": 64, "D": 16}, backend="cpu")
    h = layer(torch.randn(8, 200, 16))          # [B, T, H]
    h[:, -1].pow(2).mean().backward()           # gradients of every parameter
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn
from torch.autograd.function import once_differentiable

import rnnc

__all__ = ["Recurrent", "uniform_init", "chrono_init", "current_cuda_adapter", "sequence_parallel"]

Init = Callable[[str, torch.Tensor], None]


def uniform_init(name: str, tensor: torch.Tensor) -> None:
    """PyTorch's initialisation of recurrent layers, as rnnc's own random
    parameters: uniform in +-1/sqrt(fan-in), the fan-in being a matrix's columns,
    a block matrix's block size, and a vector's length (the last axis of every
    stored shape); a scalar parameter (shape []) uniform in [0, 1)."""
    if tensor.dim() == 0:
        nn.init.uniform_(tensor, 0.0, 1.0)
        return
    bound = 1.0 / math.sqrt(max(tensor.shape[-1], 1))
    nn.init.uniform_(tensor, -bound, bound)


def chrono_init(steps: int, gates: Sequence[str] = ("bz",)) -> Init:
    """`uniform_init`, except for the update-gate biases named in `gates` (ParaGRU's
    `bz`), which get the chrono initialisation (Tallec & Ollivier, 2018):
    `b = -ln(u)`, `u` uniform in [1, steps - 1], so that the channels start with
    memories spread over every time scale up to `steps` (as
    examples/train_adding does)."""
    longest = float(max(steps - 1, 1))

    def init(name: str, tensor: torch.Tensor) -> None:
        if name in gates:
            tensor.uniform_(1.0, longest).log_().neg_()
        else:
            uniform_init(name, tensor)

    return init


def _cell_of(cell: Union[str, "os.PathLike[str]", rnnc.Cell], backend: str, adapter: Optional[str]) -> rnnc.Cell:
    """A compiled cell: an `rnnc.Cell` as is; a shipped cell's name
    (`"para_gru"`) or `stdlib:NAME`, a path, or `.rnn` text, compiled."""
    if isinstance(cell, rnnc.Cell):
        return cell
    if isinstance(cell, str) and cell in rnnc.stdlib_names() and not os.path.exists(cell):
        return rnnc.stdlib(cell, backend=backend, adapter=adapter)
    return rnnc.compile(cell, backend=backend, adapter=adapter)


def current_cuda_adapter() -> Optional[str]:
    """The adapter selector (`uuid:HEX`) of the current CUDA device's GPU, or
    `None` without CUDA: rnnc then runs on the GPU that this process's CUDA
    tensors live on (one process per GPU, as under DistributedDataParallel)."""
    if not torch.cuda.is_available():
        return None
    import rnnc.cuda

    try:
        return "uuid:" + rnnc.cuda.cuda_uuid(torch.cuda.current_device()).hex()
    except rnnc.Error:
        return None


def _host(tensor: torch.Tensor) -> np.ndarray:
    """A float32 C-ordered host array of `tensor` (no copy for a contiguous CPU
    float32 tensor)."""
    return tensor.detach().to(device="cpu", dtype=torch.float32).contiguous().numpy()


def _like(array: np.ndarray, reference: torch.Tensor) -> torch.Tensor:
    """`array` as a tensor on `reference`'s device and in its dtype."""
    return torch.from_numpy(array).to(device=reference.device, dtype=reference.dtype)


class _Run:
    """What one call of the layer hands its autograd function: the cell, the
    names in the order of the tensors, and the solver's options."""

    def __init__(self, layer: "Recurrent", input_names, init_names):
        self.layer = layer
        self.cell = layer.cell
        self.param_names = list(layer.cell.params)
        self.input_names = list(input_names)
        self.init_names = list(init_names)
        self.output_names = list(layer.cell.outputs)
        self.options = dict(layer.solver_options)

    def split(self, tensors):
        p, i = len(self.param_names), len(self.input_names)
        params = dict(zip(self.param_names, tensors[:p]))
        inputs = dict(zip(self.input_names, tensors[p : p + i]))
        inits = dict(zip(self.init_names, tensors[p + i :]))
        return params, inputs, inits

    def keys(self):
        return (
            [f"param.{n}" for n in self.param_names]
            + [f"input.{n}" for n in self.input_names]
            + [f"init.{n}" for n in self.init_names]
        )


class _CellFunction(torch.autograd.Function):
    """rnnc's forward (keeping its tape) and rnnc's backward on that tape."""

    @staticmethod
    def forward(ctx, run: _Run, *tensors: torch.Tensor):
        params, inputs, inits = (
            {name: _host(t) for name, t in group.items()} for group in run.split(tensors)
        )
        outputs, report, tape = run.cell.forward_tape(params, inputs, inits or None, **run.options)
        run.layer._record(report)
        ctx.run, ctx.tape = run, tape
        # Saved for a second backward only (which runs the cell again): autograd
        # then refuses tensors changed in place since this forward.
        ctx.save_for_backward(*tensors)
        ctx.kinds = [(t.device, t.dtype) for t in tensors]
        reference = tensors[len(run.param_names)]  # the first input
        return tuple(_like(outputs[name], reference) for name in run.output_names)

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads: Optional[torch.Tensor]):
        run: _Run = ctx.run
        douts = {name: _host(g) for name, g in zip(run.output_names, grads) if g is not None}
        if ctx.tape.unused:
            gradients, report = ctx.tape.backward(douts)
            run.layer._record(report)
        else:  # a second backward through the same graph (retain_graph=True)
            params, inputs, inits = (
                {name: _host(t) for name, t in group.items()} for group in run.split(ctx.saved_tensors)
            )
            gradients = run.cell.backward(params, inputs, douts, inits or None, **run.options)
        results = [
            torch.from_numpy(gradients[key]).to(device=device, dtype=dtype) if needed else None
            for key, (device, dtype), needed in zip(run.keys(), ctx.kinds, ctx.needs_input_grad[1:])
        ]
        return (None, *results)


class _Slot:
    """One exchange of a layer's pool (`Recurrent._exchange`): the CUDA view of
    it, and which forward's tape it holds (`generation`, `pending`)."""

    def __init__(self, cuda_exchange):
        self.cuda = cuda_exchange
        self.generation = 0
        self.pending = False


def _batched_copies() -> bool:
    """Whether torch copies lists of tensors in one call (`torch._foreach_copy_`):
    the device path's tensors then go in and out in a few launches instead of
    one each (H200: docs/PERFORMANCE.md, run 73)."""
    return hasattr(torch, "_foreach_copy_") and os.environ.get("RNNC_TORCH_BATCHED", "1") != "0"


def _ordered_calls(ex) -> bool:
    """Whether the device path orders rnnc's calls through `ex` and CUDA's
    stream on the device (`CudaExchange.run_ordered`, where the exchange
    shares a timeline semaphore) instead of through the host
    (`RNNC_TORCH_ORDERED=0`)."""
    return ex.ordered and os.environ.get("RNNC_TORCH_ORDERED", "1") != "0"


def _fill_all(pairs) -> None:
    """Writes each `(view, tensor)`'s tensor (any float dtype, on the view's
    device) into its view, zeros where the tensor is None: the copies in one
    batched call where torch has it."""
    views, sources = [], []
    for view, tensor in pairs:
        if tensor is None:
            view.zero_()
        else:
            views.append(view)
            sources.append(tensor.detach().reshape(view.shape))
    if views and _batched_copies():
        torch._foreach_copy_(views, sources)
    else:
        for view, source in zip(views, sources):
            view.copy_(source)


def _copies_out(tensors, kinds):
    """New tensors holding `tensors` (device views), each on the device and in
    the dtype of its `(device, dtype)`, or None where the kind is None: in one
    batched copy where torch has it."""
    wanted = [(t, kind) for t, kind in zip(tensors, kinds) if kind is not None]
    if not (wanted and _batched_copies() and all(t.device == device for t, (device, _) in wanted)):
        outs = [t.to(device=device, dtype=dtype, copy=True) for t, (device, dtype) in wanted]
    else:
        outs = [torch.empty(t.shape, device=device, dtype=dtype) for t, (device, dtype) in wanted]
        torch._foreach_copy_(outs, [t for t, _ in wanted])
    given = iter(outs)
    return [next(given) if kind is not None else None for kind in kinds]


class _ExchangeFunction(torch.autograd.Function):
    """The device path: the tensors copied into an exchange on the device,
    rnnc's forward (keeping its tape in the exchange) and backward through it,
    results copied out on the device."""

    @staticmethod
    def forward(ctx, run: _Run, slot: _Slot, keep: bool, *tensors: torch.Tensor):
        ex = slot.cuda
        params, inputs, inits = run.split(tensors)
        pairs = [(ex.tensor(f"param.{name}"), tensor) for name, tensor in params.items()]
        pairs += [(ex.tensor(f"input.{name}"), tensor) for name, tensor in inputs.items()]
        pairs += [(ex.tensor(f"init.{name}"), inits.get(name)) for name in run.layer.cell.states]
        _fill_all(pairs)
        run.layer._settle()
        if _ordered_calls(ex):
            ex.run_ordered(lambda after: ex.exchange.forward(keep=keep, after=after, **run.options))
            run.layer._pending = ex.exchange
        else:
            run.layer._record(ex.run(lambda: ex.exchange.forward(keep=keep, **run.options)))
        slot.generation += 1
        slot.pending = keep
        ctx.run, ctx.slot, ctx.generation = run, slot, slot.generation
        ctx.save_for_backward(*tensors)
        ctx.kinds = [(t.device, t.dtype) for t in tensors]
        reference = tensors[len(run.param_names)]
        return tuple(ex.tensor(f"output.{name}").to(dtype=reference.dtype, copy=True) for name in run.output_names)

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads: Optional[torch.Tensor]):
        run, slot = ctx.run, ctx.slot
        ex = slot.cuda
        if slot.pending and slot.generation == ctx.generation:
            _fill_all((ex.tensor(f"dout.{name}"), grad) for name, grad in zip(run.output_names, grads))
            slot.pending = False
            if _ordered_calls(ex):
                ex.run_ordered(lambda after: ex.exchange.backward(after=after))
            else:
                run.layer._record(ex.run(ex.exchange.backward))
            gradients = {key: ex.tensor(f"grad.{key}") for key in run.keys()}
        else:
            # The exchange has served another forward since (or this graph's
            # backward ran already): the host path solves again.
            params, inputs, inits = (
                {name: _host(t) for name, t in group.items()} for group in run.split(ctx.saved_tensors)
            )
            douts = {name: _host(g) for name, g in zip(run.output_names, grads) if g is not None}
            host = run.cell.backward(params, inputs, douts, inits or None, **run.options)
            gradients = {key: torch.from_numpy(value) for key, value in host.items()}
        kinds = [kind if needed else None for kind, needed in zip(ctx.kinds, ctx.needs_input_grad[3:])]
        results = _copies_out([gradients[key] for key in run.keys()], kinds)
        return (None, None, None, *results)


def _forward_only(run: _Run, tensors) -> Tuple[torch.Tensor, ...]:
    """The outputs of `Cell.forward` (no tape), as `_CellFunction.forward` gives them."""
    params, inputs, inits = ({name: _host(t) for name, t in group.items()} for group in run.split(tensors))
    outputs, report = run.cell.forward(params, inputs, inits or None, **run.options)
    run.layer._record(report)
    reference = tensors[len(run.param_names)]
    return tuple(_like(outputs[name], reference) for name in run.output_names)


class Recurrent(nn.Module):
    """An rnnc cell as a layer: `layer(x)` runs the cell over `x` `[B, T, D]`
    (CPU or CUDA; float32, or any float dtype, computed in float32) and gives its
    output `[B, T, H]` (a dict name -> tensor when the cell has several outputs);
    `loss.backward()` runs rnnc's backward pass.

    Args:
        cell: an `rnnc.Cell`, a shipped cell's name (`"para_gru"`), `stdlib:NAME`,
            a `.rnn` path, or `.rnn` source text.
        dims: the size of every dim of the cell, e.g. `{"H": 64, "D": 16}`.
        init: fills each parameter in place, called as `init(name, tensor)`
            under `torch.no_grad()` (default `uniform_init`; see `chrono_init`).
        backend: `"auto"` (the best GPU, else the CPU), `"gpu"` or `"cpu"`;
            ignored when `cell` is already compiled.
        adapter: which GPU (an index, part of a name, or `uuid:HEX`); by
            default the current CUDA device's GPU where there is CUDA (so each
            process of a distributed job runs on its own), else the best.
        method, atol, rtol, max_iterations: the solver's options, as
            `Cell.forward` takes them.
        device_path: for CUDA tensors, whether to keep them on the device
            (`None`: where available, else the host path with a warning;
            `True`: always, raising where unavailable; `False`: never).

    The cell's parameters are the module's, under the cell's names
    (`layer.Bz`, and `Bz` in `state_dict()`). `last_report` holds the report
    of the latest forward or backward pass; on the device path with calls
    ordered on the device (NVIDIA; `RNNC_TORCH_ORDERED=0` turns it off) the
    forward's report is read when asked for (waiting for that forward's
    work), untimed, and a backward adds none.
    """

    def __init__(
        self,
        cell: Union[str, "os.PathLike[str]", rnnc.Cell],
        dims: Mapping[str, int],
        *,
        init: Optional[Init] = None,
        backend: str = "auto",
        adapter: Optional[str] = None,
        method: str = "auto",
        atol: Optional[float] = None,
        rtol: Optional[float] = None,
        max_iterations: Optional[int] = None,
        device_path: Optional[bool] = None,
    ):
        super().__init__()
        self.device_path = device_path
        # Per (batch, steps, CUDA device): the exchanges of the device path.
        self._exchanges: Dict[Tuple[int, int, int], list] = {}
        # Per (batch, steps, CUDA device): why the device path is unavailable.
        self._device_path_failures: Dict[Tuple[int, int, int], str] = {}
        if adapter is None and backend != "cpu" and not isinstance(cell, rnnc.Cell):
            adapter = current_cuda_adapter()
        try:
            self.cell = _cell_of(cell, backend, adapter)
        except rnnc.DeviceError:
            if adapter is None or not adapter.startswith("uuid:"):
                raise
            # CUDA's GPU has no Vulkan adapter of its own (another vendor's
            # driver, say): the best adapter, and CUDA tensors by the host.
            adapter = None
            self.cell = _cell_of(cell, backend, None)
        self.adapter = adapter
        self.dims = dict(dims)
        self.init = init or uniform_init
        self.solver_options = {"method": method}
        for key, value in (("atol", atol), ("rtol", rtol), ("max_iterations", max_iterations)):
            if value is not None:
                self.solver_options[key] = value
        self._last_report: Optional[dict] = None
        # The exchange whose last forward's report is still to be read (a
        # call ordered on the device returns before its work is done).
        self._pending = None
        for name, shape in self.cell.param_shapes(self.dims).items():
            if hasattr(self, name):
                raise ValueError(
                    f"parameter `{name}` of cell `{self.cell.name}` has the name of an attribute of "
                    "torch.nn.Module; rename it in the cell"
                )
            self.register_parameter(name, nn.Parameter(torch.empty(shape, dtype=torch.float32)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Fills every parameter again with `init`."""
        with torch.no_grad():
            for name in self.cell.params:
                self.init(name, getattr(self, name))

    @property
    def last_report(self) -> Optional[dict]:
        """The report of the last call (for a call ordered on the device, read
        now, waiting for its work if it is not done; untimed)."""
        self._settle()
        return self._last_report

    def _settle(self) -> None:
        """Reads the pending report of a call ordered on the device, if any."""
        pending, self._pending = self._pending, None
        if pending is not None:
            report = pending.report()
            if report is not None:
                self._record(report)

    def _record(self, report: dict) -> None:
        self._last_report = report
        if not report.get("converged", True):
            warnings.warn(
                f"rnnc: cell `{self.cell.name}` did not converge or gave non-finite values "
                f"(see layer.last_report: {report.get('non_finite')})",
                RuntimeWarning,
                stacklevel=3,
            )

    def forward(
        self,
        *inputs: torch.Tensor,
        init: Union[None, torch.Tensor, Mapping[str, torch.Tensor]] = None,
    ) -> Union[torch.Tensor, Dict[str, torch.Tensor]]:
        """Runs the cell over its inputs, `[B, T, size]` each (`[B, T, R, C]` for a
        matrix-shaped input), in the cell's order (`layer(x)` for one input), from
        the initial states `init` (`[B, size]`, `[B, R, C]` for a matrix state: a
        tensor for a cell with one state, else a dict by name; zero when absent)."""
        names = self.cell.inputs
        if len(inputs) != len(names):
            raise TypeError(
                f"cell `{self.cell.name}` takes {len(names)} input(s) ({', '.join(names)}), "
                f"{len(inputs)} given"
            )
        inits = self._inits(init)
        run = _Run(self, names, inits.keys())
        params = [getattr(self, name) for name in run.param_names]
        tensors = (*params, *inputs, *inits.values())
        keep = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
        slot = self._exchange(inputs[0]) if inputs else None
        if slot is not None:
            outputs = _ExchangeFunction.apply(run, slot, keep, *tensors)
        elif keep:
            outputs: Tuple[torch.Tensor, ...] = _CellFunction.apply(run, *tensors)
        else:  # nothing to differentiate: no tape kept
            outputs = _forward_only(run, tensors)
        if len(outputs) == 1:
            return outputs[0]
        return dict(zip(run.output_names, outputs))

    # Exchanges kept per shape: a forward takes one whose tape is not waiting
    # for its backward, else the one used longest ago (whose backward then
    # solves again on the host path).
    _POOL = 4

    def _exchange(self, reference: torch.Tensor) -> Optional[_Slot]:
        """The device path's exchange for inputs like `reference`, or `None`
        for the host path."""
        if self.device_path is False or not reference.is_cuda:
            return None
        batch, steps = reference.shape[0], reference.shape[1]
        index = reference.device.index if reference.device.index is not None else torch.cuda.current_device()
        key = (batch, steps, index)
        if key in self._device_path_failures and self.device_path is None:
            return None
        pool = self._exchanges.get(key, [])
        for slot in pool:
            if not slot.pending:
                pool.remove(slot)
                pool.append(slot)
                return slot
        if len(pool) >= self._POOL:
            slot = pool.pop(0)
            pool.append(slot)
            return slot
        if self.cell.backend != "gpu":
            if self.device_path:
                raise rnnc.DeviceError(f"cell `{self.cell.name}` runs on the CPU: the device path needs backend='gpu'")
            return None
        try:
            import rnnc.cuda

            exchange = self.cell.exchange(self.dims, batch, steps, export=True)
            slot = _Slot(rnnc.cuda.CudaExchange(exchange, index))
        except (rnnc.Error, OSError) as e:
            if self.device_path:
                raise
            self._device_path_failures[key] = str(e)
            warnings.warn(
                f"rnnc: CUDA tensors take the host path (the device path is unavailable: {e})",
                RuntimeWarning,
                stacklevel=3,
            )
            return None
        pool.append(slot)
        self._exchanges[key] = pool
        return slot

    @property
    def device_path_active(self) -> bool:
        """Whether some call has run through the device path (CUDA tensors kept
        on the GPU) rather than the host path."""
        return any(self._exchanges.values())

    def _inits(self, init) -> Dict[str, torch.Tensor]:
        if init is None:
            return {}
        if isinstance(init, torch.Tensor):
            states = self.cell.states
            if len(states) != 1:
                raise TypeError(
                    f"cell `{self.cell.name}` has {len(states)} states ({', '.join(states)}): "
                    "give `init` as a dict by name"
                )
            return {states[0]: init}
        return dict(init)

    def extra_repr(self) -> str:
        dims = ", ".join(f"{k}={v}" for k, v in self.dims.items())
        return f"{self.cell.name}, {dims}, {self.cell.backend}, method={self.solver_options['method']}"


class _SequenceParallelFunction(torch.autograd.Function):
    """`rnnc.parallel`'s forward and backward of one rank's slice, through host
    memory."""

    @staticmethod
    def forward(ctx, layer: "Recurrent", group, count: int, *tensors: torch.Tensor):
        cell = layer.cell
        params = {n: _host(t) for n, t in zip(cell.params, tensors[:count])}
        inputs = {n: _host(t) for n, t in zip(cell.inputs, tensors[count:])}
        import rnnc.parallel

        outputs, slice_context = rnnc.parallel.forward(cell, params, inputs, group=group, **layer.solver_options)
        layer._record(slice_context.reports[-1])
        ctx.layer, ctx.group, ctx.slice = layer, group, slice_context
        ctx.kinds = [(t.device, t.dtype) for t in tensors]
        reference = tensors[count]
        return tuple(_like(outputs[name], reference) for name in cell.outputs)

    @staticmethod
    @once_differentiable
    def backward(ctx, *grads: Optional[torch.Tensor]):
        import rnnc.parallel

        cell = ctx.layer.cell
        douts = {name: _host(g) for name, g in zip(cell.outputs, grads) if g is not None}
        gradients = rnnc.parallel.backward(ctx.slice, douts, group=ctx.group)
        keys = [f"param.{n}" for n in cell.params] + [f"input.{n}" for n in cell.inputs]
        results = [
            torch.from_numpy(gradients[key]).to(device=device, dtype=dtype) if needed else None
            for key, (device, dtype), needed in zip(keys, ctx.kinds, ctx.needs_input_grad[3:])
        ]
        return (None, None, None, *results)


def sequence_parallel(layer: Recurrent, *inputs: torch.Tensor, group=None):
    """Runs `layer` over one long sequence cut along T over the processes of
    `group` (a `torch.distributed` group; default: the world), in rank order:
    `inputs` are this rank's slice `[B, T_r, size]`, the result this slice's
    outputs; `backward()` on every rank gives each rank the whole sequence's
    parameter gradients (summed over the group) and its slice's input
    gradients. The sequence starts from zero states. See `rnnc.parallel`."""
    cell = layer.cell
    if len(inputs) != len(cell.inputs):
        raise TypeError(f"cell `{cell.name}` takes {len(cell.inputs)} input(s), {len(inputs)} given")
    params = [getattr(layer, name) for name in cell.params]
    outputs = _SequenceParallelFunction.apply(layer, group, len(params), *params, *inputs)
    if len(outputs) == 1:
        return outputs[0]
    return dict(zip(cell.outputs, outputs))
