"""A FAKE ``tensorrt`` module for tests only: it mirrors the Python API surface edgeseg calls
(Logger, Builder, create_network, OnnxParser, BuilderFlag, IBuilderConfig, timing caches,
build_serialized_network, Runtime.deserialize_cuda_engine, IInt8EntropyCalibrator2, execution
contexts, __version__) as it differs between 8.6, 10.x and 11.x, and records every call in ``CALLS``.

It tests edgeseg's CALL SEQUENCE only; it builds nothing and never produces a figure. Tests only.

It is no more lenient than the real bindings where our glue depends on it (checked against NVIDIA's
API manifests by tests/tensorrt_api/test_trt_fake_conformance.py): class, method, parameter and enum
names and values are the real ones; ``get_error`` returns a ParserError object; serialized engines
and timing caches are IHostMemory buffers (not bytes, no len()); a calibrator must call the base
``__init__``, implement ``get_batch_size`` (called first) and gets a memoryview in
``write_calibration_cache``; ``set_shape`` raises ValueError on an inconsistent min/opt/max and
``add_optimization_profile`` returns -1 for an empty profile; a timing cache from another TensorRT
is dropped with a logged warning (as the real one does) and ``create_timing_cache`` returns None
for bytes that are no timing cache; ``parse`` without ``path=`` cannot find external data.

The network and parser, the calibration protocol and calibrators, and the runtime live in the
siblings fake_tensorrt_network.py, fake_tensorrt_calib.py and fake_tensorrt_runtime.py (enums and
small types in fake_tensorrt_types.py). ``make(version)`` returns a fresh module object; inject it with
``monkeypatch.setitem(sys.modules, "tensorrt", make("10.3.0.26"))``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import types
from typing import Any

import numpy as np

FAKE = True
MAGIC = b"FAKE-TRT-ENGINE\n"
CACHE_MAGIC = b"FAKE-TRT-TIMING-CACHE\n"


def _sibling(part: str) -> types.ModuleType:
    """tests/fakes/fake_tensorrt_<part>.py, loaded once beside this module."""
    name = f"{__name__}_{part}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, os.path.join(os.path.dirname(__file__), f"fake_tensorrt_{part}.py")
        )
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return sys.modules[name]


def make(version: str = "10.3.0.26", *, num_dla_cores: int = 0, pycuda: Any = None) -> types.ModuleType:
    """A fake tensorrt module for ``version`` (8.x, 10.x or 11.x API surface). ``pycuda``: the fake
    pycuda.driver whose MEMORY backs device pointers (for calibration and execution) and whose
    DEVICE_NAME / COMPUTE_CAPABILITY identify the GPU a timing cache belongs to."""
    T = _sibling("types")
    major, minor = (int(v) for v in version.split(".")[:2])
    m = types.ModuleType("tensorrt")
    m.__version__ = version
    m.FAKE = True
    m.CALLS = []
    calls: list = m.CALLS
    enums = T.make_enums(major, minor)
    for name, cls in enums.items():
        if "." not in name:
            setattr(m, name, cls)
    Severity = enums["ILogger.Severity"]
    m.Dims, m.ParserError = T.Dims, T.ParserError

    class ILogger:
        pass

    ILogger.Severity = Severity  # type: ignore[attr-defined]

    class Logger(ILogger):
        INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = (
            Severity.INTERNAL_ERROR,
            Severity.ERROR,
            Severity.WARNING,
            Severity.INFO,
            Severity.VERBOSE,
        )

        def __init__(self, min_severity: Any = Severity.WARNING) -> None:
            self.min_severity = min_severity
            calls.append(("Logger", int(min_severity)))

        def log(self, severity: Any, msg: str) -> None:
            calls.append(("log", int(severity), msg))

    Logger.Severity = Severity  # type: ignore[attr-defined]
    m.ILogger, m.Logger = ILogger, Logger

    def nptype(trt_type: Any) -> type:
        return {
            m.DataType.FLOAT: np.float32,
            m.DataType.HALF: np.float16,
            m.DataType.INT8: np.int8,
            m.DataType.INT32: np.int32,
            m.DataType.UINT8: np.uint8,
        }[trt_type]

    m.nptype = nptype

    def device_id() -> str:
        return f"{pycuda.DEVICE_NAME}|{pycuda.COMPUTE_CAPABILITY}" if pycuda is not None else "no-device"

    # -- network + parser ------------------------------------------------------------------------
    _sibling("network").add_network(m, T=T, major=major, calls=calls)
    INetworkDefinition = m.INetworkDefinition

    # -- builder config -------------------------------------------------------------------------
    class ITimingCache:
        def __init__(self, header: dict) -> None:
            self._header = header

        def serialize(self) -> IHostMemory:
            return T.host_memory(CACHE_MAGIC + json.dumps(self._header).encode(), m.DataType.UINT8)

    class IOptimizationProfile:
        def __init__(self) -> None:
            self._shapes: dict[str, tuple] = {}

        def set_shape(self, input: str, min: Any, opt: Any, max: Any) -> None:  # noqa: A002
            lo, mid, hi = tuple(min), tuple(opt), tuple(max)
            calls.append(("profile.set_shape", input, lo, mid, hi))
            if not len(lo) == len(mid) == len(hi) or not all(
                0 <= a <= b <= c for a, b, c in zip(lo, mid, hi)
            ):
                raise ValueError("min/opt/max dimensions are inconsistent (need 0 <= min <= opt <= max)")
            self._shapes[input] = (lo, mid, hi)

    class IBuilderConfig:
        def __init__(self, logger: Logger) -> None:
            self._logger = logger
            self._flags: set = {"TF32"}  # "TF32 ... Enabled by default" (every version's BuilderFlag doc)
            self._profiles: list[IOptimizationProfile] = []
            self.default_device_type = m.DeviceType.GPU
            self.DLA_core = -1
            self._timing_cache: ITimingCache | None = None
            self._calibrator = None
            self._calibration_profile = None

        def set_flag(self, flag: Any) -> None:
            calls.append(("set_flag", flag.name))
            self._flags.add(flag.name)

        def clear_flag(self, flag: Any) -> None:
            calls.append(("clear_flag", flag.name))
            self._flags.discard(flag.name)

        def get_flag(self, flag: Any) -> bool:
            return flag.name in self._flags

        def set_memory_pool_limit(self, pool: Any, pool_size: int) -> None:
            calls.append(("set_memory_pool_limit", pool.name, int(pool_size)))

        def add_optimization_profile(self, profile: IOptimizationProfile) -> int:
            calls.append(("add_optimization_profile",))
            if not profile._shapes:
                return -1  # "the input is not valid"
            self._profiles.append(profile)
            return len(self._profiles) - 1

        def create_timing_cache(self, serialized_timing_cache: Any) -> ITimingCache:
            data = bytes(serialized_timing_cache)
            calls.append(("create_timing_cache", len(data)))
            if not data:
                return ITimingCache({"trt": version, "device": device_id(), "entries": 0})
            if not data.startswith(CACHE_MAGIC):
                return None  # nullptr: not a timing cache
            header = json.loads(data[len(CACHE_MAGIC) :])
            if header["trt"] != version:  # the real one logs and carries on with an empty cache
                self._logger.log(
                    Severity.WARNING,
                    "The timing cache was created by a different TensorRT version. "
                    "The timing cache will not be used!",
                )
                return ITimingCache({"trt": version, "device": device_id(), "entries": 0})
            return ITimingCache(header)

        def set_timing_cache(self, cache: ITimingCache, ignore_mismatch: bool) -> bool:
            calls.append(("set_timing_cache", bool(ignore_mismatch)))
            if cache._header["device"] != device_id() and not ignore_mismatch:
                return False
            self._timing_cache = cache
            return True

        def get_timing_cache(self) -> ITimingCache:
            return self._timing_cache

    if major < 11:

        def _get_cal(self: IBuilderConfig) -> IInt8Calibrator:
            return self._calibrator

        def _set_cal(self: IBuilderConfig, c: Any) -> None:
            calls.append(("int8_calibrator", type(c).__mro__[1].__name__))
            self._calibrator = c

        IBuilderConfig.int8_calibrator = property(_get_cal, _set_cal)  # type: ignore[attr-defined]

        def set_calibration_profile(self: IBuilderConfig, profile: IOptimizationProfile) -> bool:
            calls.append(("set_calibration_profile",))
            self._calibration_profile = profile
            return True

        IBuilderConfig.set_calibration_profile = set_calibration_profile  # type: ignore[attr-defined]

    m.ITimingCache, m.IOptimizationProfile, m.IBuilderConfig = (
        ITimingCache,
        IOptimizationProfile,
        IBuilderConfig,
    )
    m.IHostMemory = type(T.host_memory(b"x", 0))

    # -- builder --------------------------------------------------------------------------------
    class Builder:
        def __init__(self, logger: ILogger) -> None:
            calls.append(("Builder",))
            self._logger = logger

        @property
        def num_DLA_cores(self) -> int:
            return num_dla_cores

        def create_network(self, flags: int = 0) -> INetworkDefinition:
            calls.append(("create_network", int(flags)))
            return INetworkDefinition(int(flags))

        def create_builder_config(self) -> IBuilderConfig:
            calls.append(("create_builder_config",))
            return IBuilderConfig(self._logger)

        def create_optimization_profile(self) -> IOptimizationProfile:
            return IOptimizationProfile()

        def build_serialized_network(
            self, network: INetworkDefinition, config: IBuilderConfig
        ) -> IHostMemory:
            calls.append(("build_serialized_network",))
            if not network._inputs:
                return None
            dynamic = any(-1 in t.shape for t in network._inputs)
            if dynamic and not config._profiles:
                return None  # "Network has dynamic or shape inputs, but no optimization profile"
            cal = config._calibrator
            if cal is not None and "INT8" in config._flags and not network._qdq:
                if not _sibling("calib").calibrate(cal, network, config, dynamic, pycuda=pycuda, calls=calls):
                    return None
            if config._timing_cache is not None:
                config._timing_cache._header["entries"] += 1  # tactics timed during this build
            profile = None
            if config._profiles:
                profile = {k: [list(s) for s in v] for k, v in config._profiles[0]._shapes.items()}
            header = {
                "version": version,
                "inputs": [[t.name, list(t.shape)] for t in network._inputs],
                "outputs": [[t.name, list(t.shape)] for t in network._outputs],
                "profile": profile,
                "flags": sorted(config._flags),
                "dla_core": config.DLA_core,
            }
            return T.host_memory(MAGIC + json.dumps(header).encode(), m.DataType.UINT8)

    m.Builder = Builder

    # -- calibrators (removed in 11.x) ------------------------------------------------------------
    if major < 11:
        _sibling("calib").add_calibrators(m, calls=calls, module=__name__)

    _sibling("runtime").add_runtime(m, version=version, pycuda=pycuda, calls=calls, magic=MAGIC)
    return m
