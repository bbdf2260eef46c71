"""Network side of the FAKE ``tensorrt`` (tests only): ITensor, INetworkDefinition and OnnxParser
(explicit batch before 10.x, external data found only through ``parse(..., path=)``, the parsed
graph's inputs, outputs, Q/DQ, FP16 weights and float32 IO). Loaded by fake_tensorrt.py; never
imported outside tests/.
"""

from __future__ import annotations

import os
import types
from typing import Any


def add_network(m: types.ModuleType, *, T: types.ModuleType, major: int, calls: list) -> None:
    """Add ITensor, INetworkDefinition and OnnxParser to the fake module ``m`` (``T``: the types sibling)."""
    net_flags = {k: int(v) for k, v in m.NetworkDefinitionCreationFlag.__members__.items()}

    class ITensor:
        def __init__(self, name: str, shape: tuple) -> None:
            self._name, self._shape = name, T.Dims(shape)

        @property
        def name(self) -> str:
            return self._name

        @property
        def shape(self) -> Dims:
            return self._shape

    class INetworkDefinition:
        def __init__(self, flags: int) -> None:
            self._flags = flags
            self._inputs: list[ITensor] = []
            self._outputs: list[ITensor] = []
            self._qdq = self._fp16_weights = self._io_float32 = False

        @property
        def num_inputs(self) -> int:
            return len(self._inputs)

        def get_input(self, index: int) -> ITensor:
            return self._inputs[index]

        def _has_flag(self, name: str) -> bool:
            v = net_flags.get(name)
            return v is not None and bool(self._flags & (1 << v))

    class OnnxParser:
        def __init__(self, network: INetworkDefinition, logger: ILogger) -> None:
            self._network = network
            self._errors: list[Any] = []

        @property
        def num_errors(self) -> int:
            return len(self._errors)

        def get_error(self, index: int) -> ParserError:
            return self._errors[index]

        def parse_from_file(self, model: str) -> bool:
            calls.append(("parse_from_file", model))
            with open(model, "rb") as f:
                return self._parse(f.read(), model)

        def parse(self, model: Any, path: str | None = None) -> bool:
            data = bytes(model)
            calls.append(("parse", len(data)) if path is None else ("parse", len(data), path))
            return self._parse(data, path)

        def _fail(self, desc: str) -> bool:
            self._errors.append(T.ParserError(desc, m.ErrorCode.INVALID_GRAPH))
            return False

        def _parse(self, data: bytes, path: str | None) -> bool:
            import onnx

            net = self._network
            if major < 10 and not net._has_flag("EXPLICIT_BATCH"):
                return self._fail("ONNX parser only supports networks with an explicit batch dimension")
            try:
                proto = onnx.load_from_string(data)
            except Exception as e:  # noqa: BLE001
                return self._fail(f"failed to parse ONNX: {e}")
            for init in proto.graph.initializer:
                if init.data_location == onnx.TensorProto.EXTERNAL:
                    loc = {e.key: e.value for e in init.external_data}.get("location", "")
                    base = os.path.dirname(path) if path else None
                    if base is None or not os.path.isfile(os.path.join(base, loc)):
                        return self._fail(
                            f"Failed to open file: {loc} (external weights of {init.name}; "
                            "the model path is needed to find them)"
                        )
            inits = {i.name for i in proto.graph.initializer}

            def dims(vi: Any) -> tuple:
                return tuple(d.dim_value if d.dim_value > 0 else -1 for d in vi.type.tensor_type.shape.dim)

            net._inputs = [ITensor(v.name, dims(v)) for v in proto.graph.input if v.name not in inits]
            typed = onnx.ModelProto()  # TensorRT knows every static dim; ONNX shape inference needs data_prop
            typed.CopyFrom(proto)
            del typed.graph.value_info[:]
            typed = onnx.shape_inference.infer_shapes(typed, data_prop=True)
            net._outputs = [ITensor(v.name, dims(v)) for v in typed.graph.output]
            net._qdq = any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in proto.graph.node)
            net._fp16_weights = any(i.data_type == onnx.TensorProto.FLOAT16 for i in proto.graph.initializer)
            net._io_float32 = all(
                v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
                for v in list(proto.graph.input) + list(proto.graph.output)
                if v.name not in inits
            )
            return True

    m.INetworkDefinition, m.ITensor, m.OnnxParser = INetworkDefinition, ITensor, OnnxParser
