"""A FAKE ``pycuda.driver`` for tests only. It mirrors the documented calls edgeseg makes (init,
Device, retain_primary_context, Context.pop, mem_alloc, pagelocked_empty, Stream, memcpy_*) on
host memory, so tests can check the call sequence and what reached "device" buffers.

It measures nothing and must never be imported outside tests/.
"""

from __future__ import annotations

import itertools
import types

import numpy as np

FAKE = True

#: ptr -> bytearray ("device" memory); tests read what was uploaded.
MEMORY: dict[int, np.ndarray] = {}
FREED: list[int] = []
HOST_ALLOCS: list["HostAllocation"] = []
CALLS: list[tuple] = []
CONTEXT_STACK: list["FakeContext"] = []
COMPUTE_CAPABILITY = (8, 7)
DEVICE_NAME = "Fake Orin (tests only)"
_ptrs = itertools.count(0x1000, 0x1000)


def reset(*, compute_capability: tuple[int, int] = (8, 7), name: str = "Fake Orin (tests only)") -> None:
    global COMPUTE_CAPABILITY, DEVICE_NAME
    MEMORY.clear()
    FREED.clear()
    HOST_ALLOCS.clear()
    CALLS.clear()
    CONTEXT_STACK.clear()
    COMPUTE_CAPABILITY = compute_capability
    DEVICE_NAME = name


def init() -> None:
    CALLS.append(("init",))


class FakeContext:
    def push(self) -> None:
        CONTEXT_STACK.append(self)
        CALLS.append(("push",))

    def detach(self) -> None:
        CALLS.append(("detach",))
        self.dead = True

    @staticmethod
    def pop() -> None:
        if not CONTEXT_STACK:
            raise RuntimeError("fake pycuda: pop with no context pushed")
        CONTEXT_STACK.pop()
        CALLS.append(("pop",))


Context = FakeContext


def _need_context(what: str) -> None:
    if not CONTEXT_STACK:
        raise RuntimeError(f"fake pycuda: {what} without an active context (cuCtxPushCurrent missing)")


class Device:
    def __init__(self, index: int) -> None:
        self.index = index

    @staticmethod
    def count() -> int:
        return 1

    def name(self) -> str:
        return DEVICE_NAME

    def compute_capability(self) -> tuple[int, int]:
        return COMPUTE_CAPABILITY

    def retain_primary_context(self) -> FakeContext:
        return FakeContext()


class DeviceAllocation:
    def __init__(self, nbytes: int) -> None:
        _need_context("mem_alloc")
        self.ptr = next(_ptrs)
        self.nbytes = nbytes
        MEMORY[self.ptr] = np.zeros(nbytes, np.uint8)

    def __int__(self) -> int:
        return self.ptr

    def free(self) -> None:
        if self.ptr in MEMORY and not CONTEXT_STACK:
            raise RuntimeError(
                "fake pycuda: cannot activate dead context (device memory freed outside its context)"
            )
        MEMORY.pop(self.ptr, None)
        FREED.append(self.ptr)


def mem_alloc(nbytes: int) -> DeviceAllocation:
    CALLS.append(("mem_alloc", int(nbytes)))
    return DeviceAllocation(int(nbytes))


class HostAllocation:
    """Page-locked host memory: the ``.base`` of what pagelocked_empty returns. Like pycuda's, it
    belongs to the context current at allocation and ``free()`` needs that context active (after
    the context is detached: "cannot activate dead context")."""

    def __init__(self, shape, dtype) -> None:
        _need_context("pagelocked_empty")
        self.context = CONTEXT_STACK[-1]
        self._buf = np.empty(shape, dtype)
        self.__array_interface__ = self._buf.__array_interface__
        self.freed = False
        HOST_ALLOCS.append(self)

    def free(self) -> None:
        if self.freed:
            return
        if getattr(self.context, "dead", False) or not CONTEXT_STACK:
            raise RuntimeError(
                "fake pycuda: cannot activate dead context (host memory freed outside its context)"
            )
        self.freed = True
        CALLS.append(("host_free",))


def pagelocked_empty(shape, dtype) -> np.ndarray:
    CALLS.append(("pagelocked_empty", tuple(np.atleast_1d(shape)), np.dtype(dtype).name))
    return np.asarray(HostAllocation(shape, dtype))


class Stream:
    def __init__(self) -> None:
        _need_context("Stream")
        self.handle = next(_ptrs)

    def synchronize(self) -> None:
        CALLS.append(("synchronize",))


def _buf(dev) -> np.ndarray:
    return MEMORY[int(dev)]


def memcpy_htod(dev, host) -> None:
    data = np.ascontiguousarray(host).view(np.uint8).ravel()
    _buf(dev)[: data.size] = data
    CALLS.append(("memcpy_htod", int(dev), data.size))


def memcpy_htod_async(dev, host, stream=None) -> None:
    memcpy_htod(dev, host)


def memcpy_dtoh_async(host, dev, stream=None) -> None:
    flat = host.reshape(-1).view(np.uint8)
    flat[:] = _buf(dev)[: flat.size]
    CALLS.append(("memcpy_dtoh", int(dev), flat.size))


def read(ptr: int, shape, dtype=np.float32) -> np.ndarray:
    """Test helper: the array stored at a fake device pointer."""
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return MEMORY[int(ptr)][:n].view(dtype).reshape(shape).copy()


def as_modules() -> dict[str, types.ModuleType]:
    """{'pycuda': package, 'pycuda.driver': this module} for monkeypatching sys.modules."""
    import sys

    me = sys.modules[__name__]
    pkg = types.ModuleType("pycuda")
    pkg.driver = me  # type: ignore[attr-defined]
    pkg.__path__ = []  # type: ignore[attr-defined]
    return {"pycuda": pkg, "pycuda.driver": me}
