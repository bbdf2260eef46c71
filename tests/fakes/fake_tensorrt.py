"""A FAKE ``tensorrt`` module for tests only: it mirrors the documented Python API surface edgeseg
calls (Logger, Builder, create_network, OnnxParser, BuilderFlag, IBuilderConfig.set_flag /
set_memory_pool_limit, build_serialized_network, Runtime.deserialize_cuda_engine,
IInt8EntropyCalibrator2, execution contexts, __version__) as it differs between 8.6, 10.x and 11.x,
and records every call in ``CALLS``.

It exists to test edgeseg's CALL SEQUENCE (which flags, which network flags, that the calibrator
is driven per TensorRT's protocol, that buffers are bound by name). It builds nothing, its
"engine" computes a trivial function, and it never produces a figure. Never import it outside tests/.

``make(version)`` returns a fresh module object; inject it with
``monkeypatch.setitem(sys.modules, "tensorrt", make("10.3.0.26"))``.
"""

from __future__ import annotations

import enum
import json
import types
from typing import Any

import numpy as np

FAKE = True
MAGIC = b"FAKE-TRT-ENGINE\n"


def make(version: str = "10.3.0.26", *, num_dla_cores: int = 0, pycuda: Any = None) -> types.ModuleType:
    """A fake tensorrt module for ``version`` (8.x, 10.x or 11.x API surface). ``pycuda``: the fake
    pycuda.driver whose MEMORY backs device pointers (for calibration and execution)."""
    major = int(version.split(".")[0])
    m = types.ModuleType("tensorrt")
    m.__version__ = version
    m.FAKE = True
    m.CALLS = []
    calls: list = m.CALLS

    class Severity(enum.IntEnum):
        INTERNAL_ERROR = 0
        ERROR = 1
        WARNING = 2
        INFO = 3
        VERBOSE = 4

    class Logger:
        INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = (Severity.INTERNAL_ERROR, Severity.ERROR,
                                                         Severity.WARNING, Severity.INFO, Severity.VERBOSE)

        def __init__(self, min_severity: Severity = Severity.WARNING) -> None:
            self.min_severity = min_severity
            calls.append(("Logger", int(min_severity)))

    Logger.Severity = Severity  # type: ignore[attr-defined]
    m.Logger = Logger

    net_flags = {}
    if major < 10:
        net_flags["EXPLICIT_BATCH"] = 0
        net_flags["EXPLICIT_PRECISION"] = 1
    elif major == 10:
        net_flags["EXPLICIT_BATCH"] = 0
    if major >= 10:
        net_flags["STRONGLY_TYPED"] = 5
    m.NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", net_flags)

    builder_flags = {"DEBUG": 2, "GPU_FALLBACK": 3, "REFIT": 5, "DISABLE_TIMING_CACHE": 6}
    if major < 11:
        builder_flags.update({"FP16": 0, "INT8": 1, "OBEY_PRECISION_CONSTRAINTS": 10})
    m.BuilderFlag = enum.IntEnum("BuilderFlag", builder_flags)
    m.MemoryPoolType = enum.IntEnum("MemoryPoolType", {"WORKSPACE": 0, "DLA_MANAGED_SRAM": 1})
    m.DeviceType = enum.IntEnum("DeviceType", {"GPU": 0, "DLA": 1})
    m.TensorIOMode = enum.IntEnum("TensorIOMode", {"NONE": 0, "INPUT": 1, "OUTPUT": 2})
    m.DataType = enum.IntEnum("DataType", {"FLOAT": 0, "HALF": 1, "INT8": 2, "INT32": 3})

    def nptype(dt: Any) -> type:
        return {m.DataType.FLOAT: np.float32, m.DataType.HALF: np.float16, m.DataType.INT8: np.int8,
                m.DataType.INT32: np.int32}[dt]

    m.nptype = nptype

    # -- network + parser ------------------------------------------------------------------------
    class Tensor:
        def __init__(self, name: str, shape: tuple) -> None:
            self.name, self.shape = name, tuple(shape)

    class Network:
        def __init__(self, flags: int) -> None:
            self.flags = flags
            self.inputs: list[Tensor] = []
            self.outputs: list[Tensor] = []
            self.qdq = False
            self.fp16_weights = False

        @property
        def num_inputs(self) -> int:
            return len(self.inputs)

        def get_input(self, i: int) -> Tensor:
            return self.inputs[i]

        def has_flag(self, name: str) -> bool:
            v = net_flags.get(name)
            return v is not None and bool(self.flags & (1 << v))

    class OnnxParser:
        def __init__(self, network: Network, logger: Logger) -> None:
            self.network = network
            self.errors: list[str] = []

        @property
        def num_errors(self) -> int:
            return len(self.errors)

        def get_error(self, i: int) -> str:
            return self.errors[i]

        def parse_from_file(self, path: str) -> bool:
            calls.append(("parse_from_file", path))
            with open(path, "rb") as f:
                return self._parse(f.read())

        def parse(self, model: bytes, path: str | None = None) -> bool:
            calls.append(("parse", len(model)))
            return self._parse(model)

        def _parse(self, data: bytes) -> bool:
            import onnx

            if major < 10 and not self.network.has_flag("EXPLICIT_BATCH"):
                self.errors.append("ONNX parser only supports networks with an explicit batch dimension")
                return False
            try:
                proto = onnx.load_from_string(data)
            except Exception as e:  # noqa: BLE001
                self.errors.append(f"failed to parse ONNX: {e}")
                return False
            inits = {i.name for i in proto.graph.initializer}

            def dims(vi: Any) -> tuple:
                return tuple(d.dim_value if d.dim_value > 0 else -1 for d in vi.type.tensor_type.shape.dim)

            self.network.inputs = [Tensor(v.name, dims(v)) for v in proto.graph.input if v.name not in inits]
            typed = onnx.ModelProto()  # TensorRT knows every static dim; ONNX shape inference needs data_prop
            typed.CopyFrom(proto)
            del typed.graph.value_info[:]
            typed = onnx.shape_inference.infer_shapes(typed, data_prop=True)
            self.network.outputs = [Tensor(v.name, dims(v)) for v in typed.graph.output]
            self.network.qdq = any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in proto.graph.node)
            self.network.fp16_weights = any(i.data_type == onnx.TensorProto.FLOAT16 for i in proto.graph.initializer)
            self.network.io_float32 = all(
                v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
                for v in list(proto.graph.input) + list(proto.graph.output) if v.name not in inits)
            return True

    m.OnnxParser = OnnxParser

    # -- builder config -------------------------------------------------------------------------
    class TimingCache:
        def __init__(self, blob: bytes) -> None:
            self.blob = blob or b"FAKE-TIMING-CACHE:" + version.encode()

        def serialize(self) -> bytes:
            return self.blob

    class Profile:
        def __init__(self) -> None:
            self.shapes: dict[str, tuple] = {}

        def set_shape(self, name: str, min: Any, opt: Any, max: Any) -> None:  # noqa: A002
            calls.append(("profile.set_shape", name, tuple(min), tuple(opt), tuple(max)))
            self.shapes[name] = (tuple(min), tuple(opt), tuple(max))

    class BuilderConfig:
        def __init__(self) -> None:
            self.flags: set = set()
            self.pools: dict = {}
            self.profiles: list[Profile] = []
            self.default_device_type = m.DeviceType.GPU
            self.DLA_core = -1
            self.timing_cache: TimingCache | None = None
            self._calibrator = None
            self.calibration_profile = None

        def set_flag(self, flag: Any) -> None:
            calls.append(("set_flag", flag.name))
            self.flags.add(flag.name)

        def get_flag(self, flag: Any) -> bool:
            return flag.name in self.flags

        def set_memory_pool_limit(self, pool: Any, size: int) -> None:
            calls.append(("set_memory_pool_limit", pool.name, int(size)))
            self.pools[pool.name] = int(size)

        def add_optimization_profile(self, profile: Profile) -> int:
            calls.append(("add_optimization_profile",))
            self.profiles.append(profile)
            return len(self.profiles) - 1

        def create_timing_cache(self, blob: bytes) -> TimingCache:
            calls.append(("create_timing_cache", len(blob)))
            return TimingCache(bytes(blob))

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            calls.append(("set_timing_cache", bool(ignore_mismatch)))
            if not cache.blob.endswith(version.encode()) and not ignore_mismatch:
                return False
            self.timing_cache = cache
            return True

        def get_timing_cache(self) -> TimingCache | None:
            return self.timing_cache

    if major < 11:
        def _get_cal(self: BuilderConfig) -> Any:
            return self._calibrator

        def _set_cal(self: BuilderConfig, c: Any) -> None:
            calls.append(("int8_calibrator", type(c).__mro__[1].__name__))
            self._calibrator = c

        BuilderConfig.int8_calibrator = property(_get_cal, _set_cal)  # type: ignore[attr-defined]

        def set_calibration_profile(self: BuilderConfig, p: Profile) -> bool:
            calls.append(("set_calibration_profile",))
            self.calibration_profile = p
            return True

        BuilderConfig.set_calibration_profile = set_calibration_profile  # type: ignore[attr-defined]

    # -- builder --------------------------------------------------------------------------------
    class Builder:
        def __init__(self, logger: Logger) -> None:
            calls.append(("Builder",))
            self.num_DLA_cores = num_dla_cores

        def create_network(self, flags: int = 0) -> Network:
            calls.append(("create_network", int(flags)))
            return Network(int(flags))

        def create_builder_config(self) -> BuilderConfig:
            calls.append(("create_builder_config",))
            return BuilderConfig()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: BuilderConfig) -> bytes | None:
            calls.append(("build_serialized_network",))
            if not network.inputs:
                return None
            dynamic = any(-1 in t.shape for t in network.inputs)
            if dynamic and not config.profiles:
                return None  # "Network has dynamic or shape inputs, but no optimization profile"
            cal = getattr(config, "_calibrator", None)
            if cal is not None and "INT8" in config.flags and not network.qdq:
                cache = cal.read_calibration_cache()
                calls.append(("read_calibration_cache", cache is not None))
                if cache is None:
                    names = [t.name for t in network.inputs]
                    shape = (config.calibration_profile.shapes[names[0]][1] if dynamic
                             else network.inputs[0].shape)
                    n = 0
                    while True:
                        ptrs = cal.get_batch(names)
                        if not ptrs:
                            break
                        batch = pycuda.read(ptrs[0], shape)
                        calls.append(("calib_batch", n, float(batch.sum())))
                        n += 1
                    if n == 0:
                        return None  # "Calibration failure occurred with no scaling factors detected"
                    cal.write_calibration_cache(b"FAKE-CALIB-CACHE batches=%d" % n)
            profile = None
            if config.profiles:
                profile = {k: [list(s) for s in v] for k, v in config.profiles[0].shapes.items()}
            header = {
                "version": version,
                "inputs": [[t.name, list(t.shape)] for t in network.inputs],
                "outputs": [[t.name, list(t.shape)] for t in network.outputs],
                "profile": profile,
                "flags": sorted(config.flags),
                "dla_core": config.DLA_core,
            }
            return MAGIC + json.dumps(header).encode()

    m.Builder = Builder

    # -- calibrators (removed in 11.x) ------------------------------------------------------------
    if major < 11:
        class IInt8Calibrator:
            def __init__(self) -> None:
                calls.append(("IInt8Calibrator.__init__", type(self).__mro__[1].__name__))

        class IInt8EntropyCalibrator2(IInt8Calibrator):
            pass

        class IInt8MinMaxCalibrator(IInt8Calibrator):
            pass

        m.IInt8Calibrator = IInt8Calibrator
        m.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2
        m.IInt8MinMaxCalibrator = IInt8MinMaxCalibrator

    # -- runtime --------------------------------------------------------------------------------
    class ExecutionContext:
        """Output[n, c] = input[n, 0] + c (a trivial function to check buffer plumbing)."""

        def __init__(self, engine: "Engine") -> None:
            self.engine = engine
            self.shapes: dict[str, tuple] = {}
            self.addresses: dict[str, int] = {}

        def set_input_shape(self, name: str, shape: Any) -> bool:
            shape = tuple(int(s) for s in shape)
            calls.append(("set_input_shape", name, shape))
            lo, _, hi = self.engine.get_tensor_profile_shape(name, 0)
            if len(shape) != len(lo) or any(not (a <= s <= b) for a, s, b in zip(lo, shape, hi)):
                return False
            self.shapes[name] = shape
            return True

        def get_tensor_shape(self, name: str) -> tuple:
            if name in self.shapes:
                return self.shapes[name]
            inp = self.shapes.get(self.engine.input_name)
            out = self.engine.get_tensor_shape(name)
            if inp is None:
                return out
            return (inp[0], out[1], inp[2], inp[3])

        def set_tensor_address(self, name: str, ptr: int) -> bool:
            calls.append(("set_tensor_address", name))
            self.addresses[name] = int(ptr)
            return True

        def execute_async_v3(self, stream_handle: int) -> bool:
            calls.append(("execute_async_v3",))
            iname = self.engine.input_name
            if iname not in self.shapes or len(self.addresses) != self.engine.num_io_tensors:
                return False
            x = pycuda.read(self.addresses[iname], self.shapes[iname])
            for oname in self.engine.output_names:
                shp = self.get_tensor_shape(oname)
                y = x[:, :1] + np.arange(shp[1], dtype=np.float32).reshape(1, -1, 1, 1)
                pycuda.MEMORY[self.addresses[oname]][: y.nbytes] = y.astype(np.float32).view(np.uint8).ravel()
            return True

    class Engine:
        def __init__(self, header: dict) -> None:
            self.header = header
            self.io = [(n, tuple(s), m.TensorIOMode.INPUT) for n, s in header["inputs"]]
            self.io += [(n, tuple(s), m.TensorIOMode.OUTPUT) for n, s in header["outputs"]]
            self.input_name = header["inputs"][0][0]
            self.output_names = [n for n, _ in header["outputs"]]

        @property
        def num_io_tensors(self) -> int:
            return len(self.io)

        def get_tensor_name(self, i: int) -> str:
            return self.io[i][0]

        def get_tensor_mode(self, name: str) -> Any:
            return next(mode for n, _, mode in self.io if n == name)

        def get_tensor_dtype(self, name: str) -> Any:
            return m.DataType.FLOAT

        def get_tensor_shape(self, name: str) -> tuple:
            return next(s for n, s, _ in self.io if n == name)

        def get_tensor_profile_shape(self, name: str, profile_index: int) -> list:
            prof = self.header["profile"]
            if prof and name in prof:
                return [tuple(s) for s in prof[name]]
            s = self.get_tensor_shape(name)
            return [s, s, s]

        def create_execution_context(self) -> ExecutionContext:
            calls.append(("create_execution_context",))
            return ExecutionContext(self)

    class Runtime:
        def __init__(self, logger: Logger) -> None:
            calls.append(("Runtime",))
            self.DLA_core = -1

        def deserialize_cuda_engine(self, data: bytes) -> Engine | None:
            calls.append(("deserialize_cuda_engine", len(data)))
            data = bytes(data)
            if not data.startswith(MAGIC):
                return None  # as the real one does for a foreign or corrupt engine
            header = json.loads(data[len(MAGIC):])
            if header["version"] != version:
                return None
            return Engine(header)

    m.Runtime = Runtime
    return m
