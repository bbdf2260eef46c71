"""The TensorRT builder calls of one build: parse the ONNX (converted to FP16 first for strongly typed
FP16 plans), set the plan's flags, TF32, DLA, the dynamic-shape profile, the timing cache and the
calibrator, and serialize the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeseg.backends.tensorrt._plan import BuildPlan, parse_version
from edgeseg.backends.tensorrt._timing_cache import TimingKey, apply_timing_cache, save_timing_cache
from edgeseg.backends.tensorrt.options import TensorRTOptions
from edgeseg.errors import BuildError, EdgesegError
from edgeseg.onnxgraph.info import Profile


def build_serialized(
    trt: Any,
    *,
    model: Any,
    onnx: Path,
    plan: BuildPlan,
    profile: Profile,
    options: TensorRTOptions,
    calibrator: Any,
    timing_data: bytes | None = None,
    timing_key: TimingKey | None = None,
) -> tuple[bytes, list[str]]:
    """Parse, configure and build; returns the serialized engine and the builder flags set."""
    workspace, timing_cache, tf32 = options.workspace, options.timing_cache, options.tf32
    dla_core, gpu_fallback = options.dla_core, options.gpu_fallback
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    major, _ = parse_version(plan.trt_version)
    net_flags = 0
    if plan.explicit_batch:
        net_flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if plan.strongly_typed and major < 11:  # always on (and the flag deprecated) from 11.0
        net_flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(net_flags)
    parser = trt.OnnxParser(network, logger)
    if plan.convert_fp16_onnx:
        from edgeseg.onnxgraph.fp16 import convert_onnx_fp16
        from edgeseg.onnxgraph.external import with_external_data

        fp16 = convert_onnx_fp16(with_external_data(model, onnx))
        ok = parser.parse(fp16.SerializeToString(), path=str(onnx))  # path: TensorRT finds external data
    else:
        ok = parser.parse_from_file(str(onnx))
    if not ok:
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise BuildError(f"TensorRT could not parse {onnx}: " + (" | ".join(errors[:5]) or "no details"))

    config = builder.create_builder_config()
    if workspace is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace) << 20)
    flags = list(plan.flags)
    for name in plan.flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    # TF32 is on by default (8.6, 10.x and 11.x all have the flag): FP32 layers then round their inputs
    # to a 10-bit mantissa. Like Polygraphy's CreateConfig, keep FP32 exact unless asked (--tf32).
    if tf32:
        config.set_flag(trt.BuilderFlag.TF32)
        flags.append("TF32")
    else:
        config.clear_flag(trt.BuilderFlag.TF32)
    if dla_core is not None:
        n = int(builder.num_DLA_cores)
        if not 0 <= dla_core < n:
            raise BuildError(
                f"--dla-core {dla_core}: this device has {n} DLA core(s)" + (f" (0..{n - 1})" if n else "")
            )
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = int(dla_core)
        if gpu_fallback:
            config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
            flags.append("GPU_FALLBACK")
    if not profile.static:
        from edgeseg.backends.tensorrt._profile import add_profile

        prof = add_profile(builder, config, profile)
        if calibrator is not None:
            config.set_calibration_profile(prof)
    cache_obj = None
    if timing_cache is not None and timing_key is not None:  # key-checked by check_timing_cache
        cache_obj = apply_timing_cache(config, timing_cache, timing_data or b"")
    if calibrator is not None:
        config.int8_calibrator = calibrator

    blob = builder.build_serialized_network(network, config)
    if calibrator is not None and calibrator.error is not None:
        err = calibrator.error
        raise err if isinstance(err, EdgesegError) else BuildError(f"calibration failed: {err!r}") from err
    if calibrator is not None and calibrator.feeder is not None and calibrator.feeder.fed == 0:
        raise BuildError("the calibration set gave no full batch; nothing was calibrated")
    if blob is None:
        raise BuildError("TensorRT could not build the engine (its messages above say why)")
    if cache_obj is not None:  # written back only when it was applied (or new)
        save_timing_cache(config, timing_cache, timing_key)
    return bytes(blob), flags
