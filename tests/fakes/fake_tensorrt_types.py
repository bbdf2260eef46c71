"""Value types of the FAKE ``tensorrt`` (tests only): the enums with the member values NVIDIA's
bindings have per version (checked against tools/trt_api/tensorrt-*.json by
tests/tensorrt_api/test_trt_fake_conformance.py), ``Dims``, ``ParserError`` and ``IHostMemory``
(a read-only buffer like the real one: ``bytes(mem)`` / ``memoryview(mem)`` work, ``len()`` and
indexing do not). Loaded by fake_tensorrt.py; never imported outside tests/.
"""

from __future__ import annotations

import ctypes
import enum
from typing import Any


def enum_tables(major: int, minor: int) -> dict[str, dict[str, int]]:
    """The enum members (and their real integer values) the fake exposes on ``major.minor``."""
    if major < 10:  # 8.5 - 9.x
        builder = {
            "FP16": 0,
            "INT8": 1,
            "DEBUG": 2,
            "GPU_FALLBACK": 3,
            "REFIT": 5,
            "DISABLE_TIMING_CACHE": 6,
            "TF32": 7,
            "OBEY_PRECISION_CONSTRAINTS": 10,
        }
        network = {"EXPLICIT_BATCH": 0, "EXPLICIT_PRECISION": 1}
    elif major == 10:
        builder = {
            "FP16": 0,
            "INT8": 1,
            "DEBUG": 2,
            "GPU_FALLBACK": 3,
            "REFIT": 4,
            "DISABLE_TIMING_CACHE": 5,
            "TF32": 6,
            "OBEY_PRECISION_CONSTRAINTS": 9,
        }
        network = {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1}
    else:  # 11.x: no precision flags; STRONGLY_TYPED kept (deprecated, ignored: always on)
        builder = {"DEBUG": 2, "GPU_FALLBACK": 3, "REFIT": 4, "DISABLE_TIMING_CACHE": 5, "TF32": 6}
        network = {"STRONGLY_TYPED": 0}
    return {
        "BuilderFlag": builder,
        "NetworkDefinitionCreationFlag": network,
        "MemoryPoolType": {"WORKSPACE": 0, "DLA_MANAGED_SRAM": 1},
        "DeviceType": {"GPU": 0, "DLA": 1},
        "TensorIOMode": {"NONE": 0, "INPUT": 1, "OUTPUT": 2},
        "DataType": {"FLOAT": 0, "HALF": 1, "INT8": 2, "INT32": 3, "UINT8": 5},
        "ErrorCode": {"INTERNAL_ERROR": 1, "INVALID_GRAPH": 5, "INVALID_NODE": 6},
        "ILogger.Severity": {"INTERNAL_ERROR": 0, "ERROR": 1, "WARNING": 2, "INFO": 3, "VERBOSE": 4},
    }


def make_enums(major: int, minor: int) -> dict[str, type[enum.IntEnum]]:
    return {
        name: enum.IntEnum(name.split(".")[-1], members)
        for name, members in enum_tables(major, minor).items()
    }


class Dims(tuple):
    """trt.Dims: a tuple of ints here (the real one is a sequence with len/getitem)."""


class ParserError:
    """What OnnxParser.get_error returns (an object, not a str); str() gives the message."""

    def __init__(self, desc: str, code: Any, node: int = -1) -> None:
        self._desc, self._code, self._node = desc, code, node

    def desc(self) -> str:
        return self._desc

    def code(self) -> ErrorCode:
        return self._code

    def node(self) -> int:
        return self._node

    def __str__(self) -> str:
        return f"In node {self._node} with name: and operator: () {self._desc}"


#: ctypes attributes of the fake IHostMemory's base that the real class does not have (blocked).
ABSENT = ("raw", "value")


def host_memory(data: bytes, datatype: Any) -> Any:
    """A fake IHostMemory holding ``data``: buffer protocol, ``nbytes`` and ``dtype`` only."""
    n = len(data)
    if n == 0:
        raise ValueError("fake IHostMemory: no data (TensorRT returns None rather than an empty buffer)")
    base = ctypes.c_char * n

    def _no_len(self: Any) -> int:
        raise TypeError("object of type 'IHostMemory' has no len() (use .nbytes or memoryview)")

    def _no_index(self: Any, *a: Any) -> Any:
        raise TypeError("'IHostMemory' object is not subscriptable (use memoryview)")

    def _get(self: Any, name: str) -> Any:
        if name in ABSENT:
            raise AttributeError(
                f"'IHostMemory' object has no attribute {name!r} (ctypes has it, TensorRT does not)"
            )
        return object.__getattribute__(self, name)

    def nbytes(self: Any) -> int:
        return n

    def dtype(self: Any) -> DataType:
        return datatype

    cls = type(
        "IHostMemory",
        (base,),
        {
            "__module__": __name__,
            "__len__": _no_len,
            "__getitem__": _no_index,
            "__iter__": _no_index,
            "__getattribute__": _get,
            "__absent__": ABSENT,
            "nbytes": property(nbytes),
            "dtype": property(dtype),
        },
    )
    return cls.from_buffer_copy(data)
