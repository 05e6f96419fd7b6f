"""rnnc.cuda: an `rnnc.Exchange` seen from CUDA.

An exchange made with `export=True` holds its memory in Vulkan device memory
exported as an opaque file descriptor. `CudaExchange` imports that memory into
the CUDA context of the same GPU (the driver's `cuImportExternalMemory`, loaded
from `libcuda.so.1` at run time, so rnnc needs no CUDA at build time) and gives
each region as a torch tensor viewing it in place: a CUDA tensor reaches rnnc's
kernels by one device-to-device copy (`view.copy_(tensor)`), and results come
back the same way.

Synchronisation is by the host (`CudaExchange.run` waits for the CUDA
stream's work before rnnc's kernels run, and rnnc's calls return once its
kernels are done), or, where the exchange shares a timeline semaphore with
CUDA (`CudaExchange.ordered`: NVIDIA's Vulkan driver), on the device
(`CudaExchange.run_ordered`): the stream and rnnc's queue wait for each
other's values and the host waits for neither.

    ex = rnnc.cuda.CudaExchange(cell.exchange(dims, B, T, export=True), device=0)
    ex.tensor("input.x").copy_(x)            # x: a CUDA tensor [B, T, D]
    report = ex.run(lambda: ex.exchange.forward(method="newton"))
    h = ex.tensor("output.h").clone()
"""

from __future__ import annotations

import ctypes
import os
from typing import Callable, Dict, Optional, TypeVar

import rnnc

__all__ = ["CudaExchange", "cuda_uuid"]

T = TypeVar("T")

_OPAQUE_FD = 1  # CU_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD
_DEDICATED = 1  # CUDA_EXTERNAL_MEMORY_DEDICATED


class _Win32(ctypes.Structure):
    _fields_ = [("handle", ctypes.c_void_p), ("name", ctypes.c_void_p)]


class _Handle(ctypes.Union):
    _fields_ = [("fd", ctypes.c_int), ("win32", _Win32), ("nv_sci_buf_object", ctypes.c_void_p)]


class _MemoryHandleDesc(ctypes.Structure):
    """CUDA_EXTERNAL_MEMORY_HANDLE_DESC (104 bytes)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("handle", _Handle),
        ("size", ctypes.c_ulonglong),
        ("flags", ctypes.c_uint),
        ("reserved", ctypes.c_uint * 16),
    ]


class _BufferDesc(ctypes.Structure):
    """CUDA_EXTERNAL_MEMORY_BUFFER_DESC (88 bytes)."""

    _fields_ = [
        ("offset", ctypes.c_ulonglong),
        ("size", ctypes.c_ulonglong),
        ("flags", ctypes.c_uint),
        ("reserved", ctypes.c_uint * 16),
    ]


assert ctypes.sizeof(_MemoryHandleDesc) == 104 and ctypes.sizeof(_BufferDesc) == 88

_TIMELINE_FD = 9  # CU_EXTERNAL_SEMAPHORE_HANDLE_TYPE_TIMELINE_SEMAPHORE_FD


class _SemaphoreHandleDesc(ctypes.Structure):
    """CUDA_EXTERNAL_SEMAPHORE_HANDLE_DESC (96 bytes)."""

    _fields_ = [("type", ctypes.c_int), ("handle", _Handle), ("flags", ctypes.c_uint), ("reserved", ctypes.c_uint * 16)]


class _Fence(ctypes.Structure):
    _fields_ = [("value", ctypes.c_ulonglong)]


class _NvSciSync(ctypes.Union):
    _fields_ = [("fence", ctypes.c_void_p), ("reserved", ctypes.c_ulonglong)]


class _SignalKeyedMutex(ctypes.Structure):
    _fields_ = [("key", ctypes.c_ulonglong)]


class _WaitKeyedMutex(ctypes.Structure):
    _fields_ = [("key", ctypes.c_ulonglong), ("timeout_ms", ctypes.c_uint)]


class _SignalParams(ctypes.Structure):
    """CUDA_EXTERNAL_SEMAPHORE_SIGNAL_PARAMS (144 bytes)."""

    class _Params(ctypes.Structure):
        _fields_ = [
            ("fence", _Fence),
            ("nv_sci_sync", _NvSciSync),
            ("keyed_mutex", _SignalKeyedMutex),
            ("reserved", ctypes.c_uint * 12),
        ]

    _fields_ = [("params", _Params), ("flags", ctypes.c_uint), ("reserved", ctypes.c_uint * 16)]


class _WaitParams(ctypes.Structure):
    """CUDA_EXTERNAL_SEMAPHORE_WAIT_PARAMS (144 bytes)."""

    class _Params(ctypes.Structure):
        _fields_ = [
            ("fence", _Fence),
            ("nv_sci_sync", _NvSciSync),
            ("keyed_mutex", _WaitKeyedMutex),
            ("reserved", ctypes.c_uint * 10),
        ]

    _fields_ = [("params", _Params), ("flags", ctypes.c_uint), ("reserved", ctypes.c_uint * 16)]


assert ctypes.sizeof(_SemaphoreHandleDesc) == 96
assert ctypes.sizeof(_SignalParams) == 144 and ctypes.sizeof(_WaitParams) == 144

_driver: Optional[ctypes.CDLL] = None


def _cuda() -> ctypes.CDLL:
    """The CUDA driver library, initialised once."""
    global _driver
    if _driver is None:
        try:
            driver = ctypes.CDLL("libcuda.so.1")
        except OSError as e:
            raise rnnc.DeviceError(f"the CUDA driver (libcuda.so.1) cannot be loaded: {e}") from None
        _check(driver, driver.cuInit(0), "cuInit")
        _driver = driver
    return _driver


def _check(driver: ctypes.CDLL, status: int, call: str) -> None:
    if status != 0:
        name = ctypes.c_char_p()
        driver.cuGetErrorName(status, ctypes.byref(name))
        what = name.value.decode() if name.value else str(status)
        raise rnnc.DeviceError(f"CUDA's {call} failed: {what}")


def _device(index: int) -> ctypes.c_int:
    driver = _cuda()
    device = ctypes.c_int()
    _check(driver, driver.cuDeviceGet(ctypes.byref(device), index), "cuDeviceGet")
    return device


def cuda_uuid(index: int) -> bytes:
    """The UUID of CUDA device `index` (16 bytes), as Vulkan reports it for
    the same GPU (`rnnc.Exchange.device_uuid`)."""
    driver = _cuda()
    uuid = (ctypes.c_ubyte * 16)()
    _check(driver, driver.cuDeviceGetUuid(uuid, _device(index)), "cuDeviceGetUuid")
    return bytes(uuid)


class _View:
    """A float32 array at a CUDA address, for `torch.as_tensor`."""

    def __init__(self, address: int, shape: tuple) -> None:
        self.__cuda_array_interface__ = {
            "shape": tuple(shape),
            "typestr": "<f4",
            "data": (address, False),
            "version": 3,
            "strides": None,
        }


class CudaExchange:
    """An `rnnc.Exchange` (made with `export=True`) imported into CUDA device
    `device` (an index or a `torch.device`), which must be the same GPU as
    the exchange's (compared by UUID). `tensor(name)` views a region in place."""

    def __init__(self, exchange: "rnnc.Exchange", device=0) -> None:
        import torch

        index = torch.device(device).index if not isinstance(device, int) else device
        index = torch.cuda.current_device() if index is None else index
        if exchange.allocation_bytes is None:
            raise rnnc.DeviceError("the exchange's memory is not exported (make it with export=True)")
        cuda = cuda_uuid(index)
        if exchange.device_uuid is not None and exchange.device_uuid != cuda:
            raise rnnc.DeviceError(
                f"rnnc's GPU (UUID {exchange.device_uuid.hex()}) is not CUDA device {index} "
                f"(UUID {cuda.hex()}); open rnnc on the same GPU"
            )
        self.exchange = exchange
        self.index = index
        driver = _cuda()
        torch.cuda.init()
        context = ctypes.c_void_p()
        _check(driver, driver.cuDevicePrimaryCtxRetain(ctypes.byref(context), _device(index)), "cuDevicePrimaryCtxRetain")
        self._context = context
        _check(driver, driver.cuCtxPushCurrent_v2(context), "cuCtxPushCurrent")
        fd = exchange.descriptor()
        try:
            desc = _MemoryHandleDesc()
            desc.type = _OPAQUE_FD
            desc.handle.fd = fd
            desc.size = exchange.allocation_bytes
            desc.flags = _DEDICATED
            memory = ctypes.c_void_p()
            status = driver.cuImportExternalMemory(ctypes.byref(memory), ctypes.byref(desc))
            if status != 0:
                os.close(fd)  # on success CUDA owns the descriptor
                _check(driver, status, "cuImportExternalMemory")
            self._memory = memory
            buffer = _BufferDesc()
            buffer.offset = 0
            buffer.size = exchange.nbytes
            address = ctypes.c_ulonglong()
            _check(
                driver,
                driver.cuExternalMemoryGetMappedBuffer(ctypes.byref(address), memory, ctypes.byref(buffer)),
                "cuExternalMemoryGetMappedBuffer",
            )
            self._address = address.value
            self._semaphore = self._import_timeline(driver)
        finally:
            popped = ctypes.c_void_p()
            driver.cuCtxPopCurrent_v2(ctypes.byref(popped))
        self._views: Dict[str, "torch.Tensor"] = {}
        self._timeline = 0

    def _import_timeline(self, driver: ctypes.CDLL) -> Optional[ctypes.c_void_p]:
        """The exchange's shared timeline semaphore imported into CUDA, or
        None where the exchange has none."""
        fd = self.exchange.timeline_descriptor()
        if fd is None:
            return None
        desc = _SemaphoreHandleDesc()
        desc.type = _TIMELINE_FD
        desc.handle.fd = fd
        semaphore = ctypes.c_void_p()
        status = driver.cuImportExternalSemaphore(ctypes.byref(semaphore), ctypes.byref(desc))
        if status != 0:
            os.close(fd)  # on success CUDA owns the descriptor
            _check(driver, status, "cuImportExternalSemaphore")
        return semaphore

    @property
    def ordered(self) -> bool:
        """Whether calls can be ordered on the device (`run_ordered`): the
        exchange shares a timeline semaphore with CUDA."""
        return self._semaphore is not None

    def tensor(self, name: str) -> "torch.Tensor":
        """A float32 CUDA tensor viewing region `name` in place (see
        `rnnc.Exchange.regions`); valid while this object lives."""
        view = self._views.get(name)
        if view is None:
            import torch

            regions = self.exchange.regions
            if name not in regions:
                raise rnnc.DataError(f"the exchange has no region `{name}`; its regions are {', '.join(regions)}")
            offset, shape = regions[name]
            view = torch.as_tensor(_View(self._address + offset, shape), device=f"cuda:{self.index}")
            self._views[name] = view
        return view

    def run(self, work: Callable[[], T]) -> T:
        """Runs `work` (a call of the exchange's) after the current CUDA
        stream's work, which writes the exchange, is done."""
        import torch

        torch.cuda.current_stream(self.index).synchronize()
        return work()

    def run_ordered(self, work: Callable[[int], T]) -> T:
        """Runs `work(after)` (a call of the exchange's with `after=after`)
        ordered on the device, the host waiting for neither side: the current
        CUDA stream signals `after` on the shared timeline once its work so
        far (which writes the exchange) is done, rnnc's work waits for it and
        signals `after + 1`, and the stream waits for that before its later
        work (which reads the results). Needs `ordered`."""
        import torch

        if self._semaphore is None:
            raise rnnc.DeviceError("this exchange shares no timeline with CUDA (see CudaExchange.ordered)")
        driver = _cuda()
        stream = ctypes.c_void_p(torch.cuda.current_stream(self.index).cuda_stream)
        after = self._timeline + 1
        self._timeline = after + 1
        signal = _SignalParams()
        signal.params.fence.value = after
        status = driver.cuSignalExternalSemaphoresAsync(ctypes.byref(self._semaphore), ctypes.byref(signal), 1, stream)
        _check(driver, status, "cuSignalExternalSemaphoresAsync")
        result = work(after)
        wait = _WaitParams()
        wait.params.fence.value = after + 1
        status = driver.cuWaitExternalSemaphoresAsync(ctypes.byref(self._semaphore), ctypes.byref(wait), 1, stream)
        _check(driver, status, "cuWaitExternalSemaphoresAsync")
        return result

    def close(self) -> None:
        """Unmaps the memory (the views become invalid)."""
        if getattr(self, "_address", None) is None:
            return
        driver = _cuda()
        self._views.clear()
        if self._semaphore is not None:
            torch_sync = __import__("torch").cuda.synchronize
            torch_sync(self.index)
            driver.cuDestroyExternalSemaphore(self._semaphore)
            self._semaphore = None
        driver.cuMemFree_v2(ctypes.c_ulonglong(self._address))
        driver.cuDestroyExternalMemory(self._memory)
        driver.cuDevicePrimaryCtxRelease_v2(_device(self.index))
        self._address = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
