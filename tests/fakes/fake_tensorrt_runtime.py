"""Runtime side of the FAKE ``tensorrt`` (tests only): Runtime, ICudaEngine, IExecutionContext.
The "engine" computes output[n, c] = input[n, 0] + c, to check buffer plumbing; it measures
nothing. Loaded by fake_tensorrt.py; never imported outside tests/.
"""

from __future__ import annotations

import json
import types
from typing import Any

import numpy as np


def add_runtime(m: types.ModuleType, *, version: str, pycuda: Any, calls: list, magic: bytes) -> None:
    Dims = m.Dims

    class IExecutionContext:
        def __init__(self, engine: "ICudaEngine") -> None:
            self._engine = engine
            self._shapes: dict[str, tuple] = {}
            self._addresses: dict[str, int] = {}

        def set_input_shape(self, name: str, shape: Any) -> bool:
            shape = tuple(int(s) for s in shape)
            calls.append(("set_input_shape", name, shape))
            lo, _, hi = self._engine.get_tensor_profile_shape(name, 0)
            if len(shape) != len(lo) or any(not (a <= s <= b) for a, s, b in zip(lo, shape, hi)):
                return False
            self._shapes[name] = shape
            return True

        def get_tensor_shape(self, name: str) -> Dims:
            if name in self._shapes:
                return Dims(self._shapes[name])
            inp = self._shapes.get(self._engine._input_name)
            out = self._engine.get_tensor_shape(name)
            if inp is None:
                return out
            return Dims((inp[0], out[1], inp[2], inp[3]))

        def set_tensor_address(self, name: str, memory: int) -> bool:
            calls.append(("set_tensor_address", name))
            self._addresses[name] = int(memory)
            return True

        def execute_async_v3(self, stream_handle: int) -> bool:
            calls.append(("execute_async_v3",))
            iname = self._engine._input_name
            if iname not in self._shapes or len(self._addresses) != self._engine.num_io_tensors:
                return False
            x = pycuda.read(self._addresses[iname], self._shapes[iname])
            for oname in self._engine._output_names:
                shp = self.get_tensor_shape(oname)
                y = x[:, :1] + np.arange(shp[1], dtype=np.float32).reshape(1, -1, 1, 1)
                pycuda.MEMORY[self._addresses[oname]][: y.nbytes] = (
                    y.astype(np.float32).view(np.uint8).ravel()
                )
            return True

    class ICudaEngine:
        def __init__(self, header: dict) -> None:
            self._header = header
            self._io = [(n, tuple(s), m.TensorIOMode.INPUT) for n, s in header["inputs"]]
            self._io += [(n, tuple(s), m.TensorIOMode.OUTPUT) for n, s in header["outputs"]]
            self._input_name = header["inputs"][0][0]
            self._output_names = [n for n, _ in header["outputs"]]

        @property
        def num_io_tensors(self) -> int:
            return len(self._io)

        def get_tensor_name(self, index: int) -> str:
            return self._io[index][0]

        def get_tensor_mode(self, name: str) -> TensorIOMode:
            return next(mode for n, _, mode in self._io if n == name)

        def get_tensor_dtype(self, name: str) -> DataType:
            return m.DataType.FLOAT

        def get_tensor_shape(self, name: str) -> Dims:
            return Dims(next(s for n, s, _ in self._io if n == name))

        def get_tensor_profile_shape(self, name: str, profile_index: int) -> list[Dims]:
            prof = self._header["profile"]
            if prof and name in prof:
                return [Dims(s) for s in prof[name]]
            s = self.get_tensor_shape(name)
            return [s, s, s]

        def create_execution_context(self) -> IExecutionContext:
            calls.append(("create_execution_context",))
            return IExecutionContext(self)

    class Runtime:
        def __init__(self, logger: Any) -> None:
            calls.append(("Runtime",))
            self.DLA_core = -1

        def deserialize_cuda_engine(self, serialized_engine: Any) -> ICudaEngine:
            data = bytes(serialized_engine)
            calls.append(("deserialize_cuda_engine", len(data)))
            if not data.startswith(magic):
                return None  # as the real one does for a foreign or corrupt engine
            header = json.loads(data[len(magic) :])
            if header["version"] != version:
                return None
            return ICudaEngine(header)

    m.IExecutionContext, m.ICudaEngine, m.Runtime = IExecutionContext, ICudaEngine, Runtime
