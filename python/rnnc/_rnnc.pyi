# Type stubs of the extension module `rnnc._rnnc` (python/src/, built by maturin).
from os import PathLike
from typing import Any, Literal, Mapping, Optional, Union

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float32]
Backend = Literal["auto", "gpu", "cpu"]
Method = Literal["auto", "newton", "sequential"]

class Error(Exception):
    """The base of every error rnnc raises."""

class CompileError(Error):
    """A cell that does not compile; the message is the rendered diagnostic
    (FILE:LINE:COL, the line, the labels)."""

class DataError(Error):
    """Data that does not fit the cell; the message names the tensor."""

class DeviceError(Error):
    """The GPU (or the CPU backend) failed, or no GPU is there."""

class Tape:
    """What `Cell.forward_tape` keeps for the backward pass; used once."""

    @property
    def unused(self) -> bool:
        """Whether the backward pass has not run yet."""
    def backward(self, douts: Mapping[str, Array]) -> tuple[dict[str, Array], dict[str, Any]]:
        """(gradients keyed param.NAME / input.NAME / init.NAME, report with backward_ms)."""

class Exchange:
    """A cell's tensors for one batch size and sequence length in one GPU buffer (`Cell.exchange`)."""
    @property
    def regions(self) -> dict[str, tuple[int, tuple[int, ...]]]:
        """Region name -> (offset in bytes, shape): `param.W`, `input.x`, `init.h`, `output.h`, `dout.h`, `grad.param.W`, `grad.input.x`, `grad.init.h`."""
    @property
    def shape(self) -> tuple[int, int]: ...
    @property
    def nbytes(self) -> int: ...
    @property
    def allocation_bytes(self) -> Optional[int]: ...
    @property
    def device_uuid(self) -> Optional[bytes]: ...
    def descriptor(self) -> int:
        """A new file descriptor of the exported memory, owned by the caller."""
    def write(self, arrays: Mapping[str, Array]) -> None: ...
    def read(self, name: str) -> Array: ...
    def forward(
        self,
        method: Method = "auto",
        atol: Optional[float] = None,
        rtol: Optional[float] = None,
        max_iterations: Optional[int] = None,
        keep: bool = False,
        after: Optional[int] = None,
    ) -> Optional[dict[str, Any]]:
        """Runs the cell over the exchange's tensors, outputs written to it; `keep`: keep the tape for `backward`.
        With `after=v`: ordered on the device by the shared timeline (waits for `v`, signals `v + 1`), returns None; `report()` gives the report."""
    def backward(self, after: Optional[int] = None) -> Optional[dict[str, Any]]:
        """The backward of the last `forward(keep=True)`: `dout.*` in, `grad.*` out (`after` as in `forward`); `input.*` must still hold the forward's inputs."""
    def report(self) -> Optional[dict[str, Any]]:
        """The report of the last `forward(after=...)`, once (waits for its work), untimed."""
    def handoff(self, after: int) -> None:
        """An ordered call with no work: waits for `after` on the shared timeline, signals `after + 1`."""
    def timeline_descriptor(self) -> Optional[int]:
        """A new file descriptor of the shared timeline semaphore, or None where the exchange has none."""

class Slice:
    """One rank's slice of a sequence solved across ranks (`Cell.forward_slice`, `rnnc.parallel`)."""
    @property
    def outputs(self) -> dict[str, Array]: ...
    @property
    def prefix_steps(self) -> int: ...
    @property
    def suffix_steps(self) -> int: ...
    @property
    def reports(self) -> list[dict[str, Any]]: ...
    def backward(self, douts: Mapping[str, Array], neighbours: Any) -> dict[str, Array]:
        """Gradients keyed param.* (summed over the ranks), input.*, init.*."""

class Cell:
    """A compiled cell bound to an engine (`compile`, `stdlib`)."""

    @property
    def source(self) -> str:
        """The source text."""
    @property
    def name(self) -> str: ...
    @property
    def file(self) -> str:
        """The source's name in diagnostics: a path, `stdlib:NAME` or `<string>`."""
    @property
    def backend(self) -> Literal["gpu", "cpu"]: ...
    @property
    def device(self) -> str: ...
    @property
    def params(self) -> list[str]: ...
    @property
    def inputs(self) -> list[str]: ...
    @property
    def states(self) -> list[str]: ...
    @property
    def outputs(self) -> list[str]: ...
    def forward(
        self,
        params: Mapping[str, Array],
        inputs: Mapping[str, Array],
        init: Optional[Mapping[str, Array]] = None,
        method: Method = "auto",
        atol: Optional[float] = None,
        rtol: Optional[float] = None,
        max_iterations: Optional[int] = None,
    ) -> tuple[dict[str, Array], dict[str, Any]]:
        """(outputs name -> [B, T, size], the report of `rnnc run --report`)."""
    def forward_tape(
        self,
        params: Mapping[str, Array],
        inputs: Mapping[str, Array],
        init: Optional[Mapping[str, Array]] = None,
        method: Method = "auto",
        atol: Optional[float] = None,
        rtol: Optional[float] = None,
        max_iterations: Optional[int] = None,
    ) -> tuple[dict[str, Array], dict[str, Any], Tape]:
        """`forward`, keeping a `Tape` for one backward pass."""
    def backward(
        self,
        params: Mapping[str, Array],
        inputs: Mapping[str, Array],
        douts: Mapping[str, Array],
        init: Optional[Mapping[str, Array]] = None,
        method: Method = "auto",
        atol: Optional[float] = None,
        rtol: Optional[float] = None,
        max_iterations: Optional[int] = None,
    ) -> dict[str, Array]:
        """Gradients of sum(douts[o] * o), keyed param.NAME, input.NAME, init.NAME."""
    def inspect(self, dims: Optional[Mapping[str, int]] = None) -> dict[str, Any]:
        """The dict of `rnnc inspect --json`; with `dims`, each dim's size and
        `backends` (the GPU's lanes and methods or why it cannot run the cell,
        the CPU's methods)."""
    def forward_slice(
        self,
        params: Mapping[str, Array],
        inputs: Mapping[str, Array],
        neighbours: Any,
        init: Optional[Mapping[str, Array]] = None,
        steps: int = 64,
        method: Method = "auto",
        atol: Optional[float] = None,
        rtol: Optional[float] = None,
        max_iterations: Optional[int] = None,
    ) -> Slice:
        """One rank's slice of one sequence solved across ranks; `neighbours` as `rnnc.parallel.TorchNeighbours`."""
    def exchange(self, dims: Mapping[str, int], batch: int, steps: int, export: bool = False) -> Exchange:
        """One GPU buffer of every tensor of a call (exported for CUDA when `export`)."""
    def param_shapes(self, dims: Mapping[str, int]) -> dict[str, tuple[int, ...]]:
        """Each parameter's stored shape for these dims."""

def compile(
    source: Union[str, "PathLike[str]"],
    cell: Optional[str] = None,
    backend: Backend = "auto",
    adapter: Optional[str] = None,
) -> Cell:
    """Compile `.rnn` text, a file, or `stdlib:NAME`; raises CompileError."""

def stdlib(name: str, backend: Backend = "auto", adapter: Optional[str] = None) -> Cell:
    """A shipped cell, compiled."""

def stdlib_source(name: str) -> str:
    """The source text of a shipped cell."""

def stdlib_names() -> list[str]:
    """The names of the shipped cells."""
