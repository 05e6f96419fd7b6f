"""rnnc: recurrent cells written in the `.rnn` language, compiled by rnnc and
evaluated in parallel over the sequence (Newton's method plus a parallel scan),
on a GPU through wgpu or on the CPU through cranelift.

    import numpy as np, rnnc
    cell = rnnc.stdlib("para_gru", backend="cpu")
    shapes = cell.param_shapes({"H": 8, "D": 3})
    params = {n: np.random.uniform(-.3, .3, s).astype(np.float32) for n, s in shapes.items()}
    x = np.random.randn(2, 100, 3).astype(np.float32)          # [B, T, D]
    outputs, report = cell.forward(params, {"x": x})          # outputs["h"]: [B, T, H]
    grads = cell.backward(params, {"x": x}, {"h": np.ones_like(outputs["h"])})

`rnnc.torch.Recurrent` wraps a cell as a `torch.nn.Module` (import `rnnc.torch`;
it needs PyTorch). `Cell.exchange` holds a call's tensors in one buffer on the
GPU, which `rnnc.cuda.CudaExchange` maps into CUDA (the layer's device path).
"""

from ._rnnc import (
    Cell,
    CompileError,
    DataError,
    DeviceError,
    Error,
    Exchange,
    Slice,
    Tape,
    compile,
    stdlib,
    stdlib_names,
    stdlib_source,
)

__all__ = [
    "Cell",
    "CompileError",
    "DataError",
    "DeviceError",
    "Error",
    "Exchange",
    "Slice",
    "Tape",
    "compile",
    "stdlib",
    "stdlib_names",
    "stdlib_source",
]
