"""Build a TensorRT engine from an edgeseg ONNX: FP32 / FP16 / INT8 (Q/DQ or calibrated), on
TensorRT 8.5+ (JetPack 5), 10.x (JetPack 6) and 11.x. The version logic lives in ``_trt_plan``.

Writes ``model.engine`` and its sidecar ``model.engine.card.json`` (TensorRT version, GPU, build
path, calibration, hashes) atomically; the runner refuses engines whose sidecar does not match.
"""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path
from typing import Any, Callable

from edgeseg._io import atomic_write_bytes, check_output_path, ensure_writable_dir, sha256_bytes, sha256_file
from edgeseg.backends._build import BuildResult, timed_build
from edgeseg.backends._checkpoint import refuse_labels_head
from edgeseg.backends.tensorrt import SPEC
from edgeseg.backends.tensorrt._calib_cache import CacheKey, check_cache, preprocessing_of
from edgeseg.backends.tensorrt._engine_card import engine_extra
from edgeseg.backends._onnx import Profile, graph_inputs, is_qdq, load_header, resolve_profile
from edgeseg.backends.tensorrt._plan import BuildPlan, parse_version, plan_build
from edgeseg.backends.tensorrt._timing_cache import (
    TimingKey,
    apply_timing_cache,
    check_timing_cache,
    save_timing_cache,
)
from edgeseg.card import ModelCard, card_from_onnx
from edgeseg.errors import BuildError, EdgesegError

DEFAULT_CALIB_DIR = Path("calib")


def default_cache_path(onnx: Path, algorithm: str) -> Path:
    """calib/<onnx stem>.<algorithm>.cache (relative to the working folder)."""
    return DEFAULT_CALIB_DIR / f"{onnx.stem}.{algorithm}.cache"


@timed_build("tensorrt")
def build_tensorrt(
    onnx: str | os.PathLike,
    *,
    output: str | os.PathLike | None = None,
    fp16: bool = False,
    int8: bool = False,
    calib: str | None = None,
    calib_num: int | None = None,
    calib_cache: str | os.PathLike | None = None,
    calib_algo: str = "entropy",
    recalibrate: bool = False,
    workspace: int | None = None,
    timing_cache: str | os.PathLike | None = None,
    dla_core: int | None = None,
    gpu_fallback: bool = False,
    shapes: str | None = None,
    device: int = 0,
    tf32: bool = False,
    command: str | None = None,
    log: Callable[[str], None] = print,
) -> BuildResult:
    """Build ``output`` (default: ``onnx`` with suffix .engine). ``workspace`` in MiB (default: TensorRT's).

    ``calib``: a CalibrationSet source (list file or folder) for implicit INT8 on 8.5-10.x;
    the cache goes to ``calib_cache`` (default calib/<stem>.<algo>.cache) with a key sidecar.
    ``shapes``: "min/opt/max" profile, required when the ONNX input has dynamic dims.
    ``tf32``: allow TF32 math for FP32 layers (default False: ``BuilderFlag.TF32`` is cleared, as
    Polygraphy does unless ``--tf32``; TensorRT itself enables it by default on Ampere and newer).
    """
    onnx = Path(onnx)
    out = check_output_path(output or onnx.with_suffix(".engine"))
    if timing_cache is not None:
        check_output_path(timing_cache)
    if gpu_fallback and dla_core is None:
        raise BuildError("--gpu-fallback only applies with --dla-core N")
    model = load_header(onnx)
    try:
        card = card_from_onnx(model)
    except EdgesegError as e:
        raise BuildError(f"{e}; export the model with `edgeseg export` so it carries its card") from e
    refuse_labels_head(
        card, onnx, backend="tensorrt", why="its engine card, bindings and checks read float logits"
    )
    if card.extra.get("backend") == "onnxruntime":
        raise BuildError(
            f"{onnx} is an ONNX Runtime-optimized model (contrib ops TensorRT cannot parse); "
            "build TensorRT from the ONNX that `edgeseg export` / `edgeseg quantize` wrote"
        )
    if card.extra.get("flavour") == "onnxruntime-cpu":  # edgeseg.quant.ort_cpu.FLAVOUR
        raise BuildError(
            f"{onnx} is quantized for ONNX Runtime CPU (asymmetric uint8 activations), which TensorRT does not "
            "take; make a TensorRT Q/DQ ONNX with `edgeseg quantize --method ptq` (or qat)"
        )
    if card.extra.get("flavour") == "cpu-qdq":  # edgeseg.quant.placement_cpu.CPU_FLAVOUR
        raise BuildError(
            f"{onnx} is placed for the CPU runtimes (quantize --target cpu); TensorRT wants its own placement: "
            "make one with `edgeseg quantize --target tensorrt` (the default)"
        )
    profile = resolve_profile(graph_inputs(model), shapes)
    qdq = is_qdq(model)

    from edgeseg.backends.tensorrt._env import CudaDevice, import_pycuda, import_tensorrt, trt_version

    trt = import_tensorrt()
    cuda = import_pycuda()
    version = trt_version(trt)
    cache_path = Path(calib_cache) if calib_cache else default_cache_path(onnx, calib_algo)
    has_calib = calib is not None or (calib_cache is not None and cache_path.exists())
    plan = plan_build(
        version, onnx_is_qdq=qdq, fp16=fp16, int8=int8, calib=has_calib, dla=dla_core is not None
    )
    for w in plan.warnings:
        log(f"warning: {w}")
    log(plan.path_name)
    onnx_sha = sha256_file(onnx)
    command = command or _default_command(onnx, out, plan, calib, shapes, dla_core, gpu_fallback, tf32)

    gpu = CudaDevice(cuda, device)
    calibrator, calibration = None, None
    try:
        timing_key = (
            TimingKey(version, gpu.name, gpu.compute_capability) if timing_cache is not None else None
        )
        timing_data = check_timing_cache(timing_cache, timing_key) if timing_key is not None else None
        with gpu.active():
            try:
                if plan.needs_calibrator:
                    calibrator, calibration = _calibrator(
                        trt,
                        cuda,
                        onnx=onnx,
                        card=card,
                        profile=profile,
                        calib=calib,
                        calib_num=calib_num,
                        cache_path=cache_path,
                        algorithm=calib_algo,
                        recalibrate=recalibrate,
                        onnx_sha=onnx_sha,
                        version=version,
                        compute_capability=gpu.compute_capability,
                        log=log,
                    )
                t0 = time.perf_counter()
                blob, flags = _build(
                    trt,
                    model=model,
                    onnx=onnx,
                    plan=plan,
                    profile=profile,
                    workspace=workspace,
                    timing_cache=timing_cache,
                    dla_core=dla_core,
                    gpu_fallback=gpu_fallback,
                    calibrator=calibrator,
                    timing_data=timing_data,
                    timing_key=timing_key,
                    tf32=tf32,
                )
                seconds = time.perf_counter() - t0
            finally:
                if calibrator is not None:
                    calibrator.close()  # frees its device buffer while the context is current
    finally:
        gpu.release()
    if calibrator is not None and calibration is not None:
        calibration["cache_sha256"] = sha256_file(cache_path) if cache_path.exists() else None
        calibration["recalibrated"] = bool(calibrator.cache_written)

    atomic_write_bytes(out, blob)
    extra = engine_extra(
        tensorrt_version=version,
        gpu_name=gpu.name,
        compute_capability=gpu.compute_capability,
        plan=plan,
        flags=flags,
        dla_core=dla_core,
        gpu_fallback=gpu_fallback,
        profile=profile.to_dict(),
        calibration=calibration,
        onnx_sha256=onnx_sha,
        engine_sha256=sha256_bytes(blob),
        engine_size=len(blob),
        build_seconds=seconds,
        build_command=command,
        workspace_mib=workspace,
        tf32=tf32,
    )
    engine_card = card.replace(
        precision=plan.precision,
        input_size=(int(profile.opt[2]), int(profile.opt[3])) if len(profile.opt) == 4 else card.input_size,
        source=f"{onnx.name}@sha256:{onnx_sha[:16]}",
        calibration=_card_calibration(card, calibration),
        extra={**card.extra, "onnx_source": card.source, **extra},
    )
    engine_card.write_sidecar(out)
    return BuildResult(
        path=out,
        precision=plan.precision,
        path_name=plan.path_name,
        card=engine_card,
        notes=plan.warnings,
        comparison=_compare(out, onnx, engine_card, device=device, profile=profile),
    )


def _compare(engine: Path, onnx: Path, card: ModelCard, *, device: int, profile: Profile) -> dict[str, Any]:
    """The engine against ONNX Runtime on its source ONNX (``compare_with_source``) at the profile's opt
    size. Reported, not enforced: TensorRT picks its kernels (and, for FP16/INT8, its precisions) per
    layer, so its figures are shown on the success line and in the card, never a reason to refuse."""
    from edgeseg.backends._build import compare_with_source
    from edgeseg.backends.tensorrt.runner import TensorRTRunner

    with TensorRTRunner(engine, device=device) as runner:
        size = (int(profile.opt[2]), int(profile.opt[3])) if len(profile.opt) == 4 else None
        return compare_with_source(
            runner.infer,
            onnx,
            card,
            precision=card.precision,
            enforce=False,
            what="TensorRT engine",
            size=size,
        )


def _card_calibration(card: ModelCard, calibration: dict[str, Any] | None) -> dict[str, Any]:
    if calibration is None:
        return dict(card.calibration)  # Q/DQ ONNX: keep what quantize recorded
    return {**calibration, "method": f"tensorrt-{calibration['algorithm']}"}


def _default_command(
    onnx: Path,
    out: Path,
    plan: BuildPlan,
    calib: str | None,
    shapes: str | None,
    dla_core: int | None,
    gpu_fallback: bool,
    tf32: bool = False,
) -> str:
    parts = ["edgeseg", "build", str(onnx), "--backend", "tensorrt"]
    if plan.precision == "fp16":
        parts.append("--fp16")
    if plan.precision == "int8":
        parts.append("--int8")
        if plan.needs_calibrator:
            parts += ["--calib", calib or "CALIB_LIST"]
    if shapes:
        parts += ["--shapes", shapes]
    if dla_core is not None:
        parts += ["--dla-core", str(dla_core)] + (["--gpu-fallback"] if gpu_fallback else [])
    if tf32:
        parts.append("--tf32")
    parts += ["-o", str(out)]
    return shlex.join(parts)


def _calibrator(
    trt: Any,
    cuda: Any,
    *,
    onnx: Path,
    card: ModelCard,
    profile: Profile,
    calib: str | None,
    calib_num: int | None,
    cache_path: Path,
    algorithm: str,
    recalibrate: bool,
    onnx_sha: str,
    version: str,
    compute_capability: str,
    log: Callable[[str], None],
) -> tuple[Any, dict[str, Any]]:
    from edgeseg.backends._calib_set import open_calib_set
    from edgeseg.backends.tensorrt._calibrator import make_calibrator

    shape = tuple(int(v) for v in profile.opt)  # TensorRT calibrates at the profile's opt shape
    size = (shape[2], shape[3])
    ensure_writable_dir(cache_path.parent if str(cache_path.parent) else Path("."), create=True)
    calib_set = (
        open_calib_set(calib, card, num=calib_num or SPEC.calib_num, batch=shape[0], size=size)
        if calib
        else None
    )
    key = CacheKey(
        onnx_sha256=onnx_sha,
        calib_fingerprint=calib_set.fingerprint() if calib_set is not None else "",
        preprocessing=preprocessing_of(card, size),
        tensorrt_version=version,
        compute_capability=compute_capability,
        algorithm=algorithm,
        batch=shape[0],
    )
    reuse = check_cache(cache_path, key, recalibrate=recalibrate, have_set=calib_set is not None)
    if reuse:
        log(f"reusing calibration cache {cache_path} (its key matches this model, data and TensorRT)")
    else:
        log(f"calibrating ({algorithm}) on {len(calib_set)} frames from {calib}; cache -> {cache_path}")
    calibrator = make_calibrator(
        trt,
        cuda,
        calib_set=None if reuse else calib_set,
        shape=shape,
        algorithm=algorithm,
        cache_path=cache_path,
        key=key,
        reuse_cache=reuse,
    )
    info = {
        "source": calib,
        "frames": len(calib_set) if calib_set is not None else None,
        "fingerprint": key.calib_fingerprint or None,
        "algorithm": algorithm,
        "batch": shape[0],
        "cache": str(cache_path),
        "reused_cache": reuse,
    }
    return calibrator, info


def _build(
    trt: Any,
    *,
    model: Any,
    onnx: Path,
    plan: BuildPlan,
    profile: Profile,
    workspace: int | None,
    timing_cache: str | os.PathLike | None,
    dla_core: int | None,
    gpu_fallback: bool,
    calibrator: Any,
    timing_data: bytes | None = None,
    timing_key: TimingKey | None = None,
    tf32: bool = False,
) -> tuple[bytes, list[str]]:
    """Parse, configure and build; returns the serialized engine and the builder flags set."""
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
        from edgeseg.backends._fp16 import convert_onnx_fp16
        from edgeseg.backends._onnx_external import with_external_data

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
