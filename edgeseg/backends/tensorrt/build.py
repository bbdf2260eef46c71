"""Build a TensorRT engine from an edgeseg ONNX: FP32 / FP16 / INT8 (Q/DQ or calibrated), on
TensorRT 8.5+ (JetPack 5), 10.x (JetPack 6) and 11.x. The version logic lives in ``_plan``, the
settings in ``options.TensorRTOptions``, the calibration step in ``_calib_step``, the builder calls
in ``_network``.

Writes ``model.engine`` and its sidecar ``model.engine.card.json`` (TensorRT version, GPU, build
path, calibration, hashes) atomically; the runner refuses engines whose sidecar does not match.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

from edgeseg._io import atomic_write_bytes, check_output_path, sha256_bytes, sha256_file
from edgeseg.backends._build import BuildResult, timed_build
from edgeseg.backends._checkpoint import refuse_labels_head
from edgeseg.backends.tensorrt._calib_step import card_calibration, make_build_calibrator
from edgeseg.backends.tensorrt._engine_card import engine_extra
from edgeseg.backends.tensorrt._network import build_serialized
from edgeseg.backends.tensorrt._plan import plan_build
from edgeseg.backends.tensorrt._timing_cache import TimingKey, check_timing_cache
from edgeseg.backends.tensorrt.options import (  # noqa: F401 - re-exported
    DEFAULT_CALIB_DIR,
    TensorRTOptions,
    command_line,
    default_cache_path,
)
from edgeseg.card import ModelCard, card_from_onnx
from edgeseg.errors import BuildError, EdgesegError
from edgeseg.onnxgraph.info import Profile, graph_inputs, is_qdq, load_header, resolve_profile


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
    """Build ``output`` (default: ``onnx`` with suffix .engine) with these settings: the keywords are
    the ``build --backend tensorrt`` flags, gathered into one ``TensorRTOptions`` (see it for each
    one and its default) and passed to ``build_engine``."""
    options = TensorRTOptions(
        fp16=fp16,
        int8=int8,
        calib=calib,
        calib_num=calib_num,
        calib_cache=calib_cache,
        calib_algo=calib_algo,
        recalibrate=recalibrate,
        workspace=workspace,
        timing_cache=timing_cache,
        dla_core=dla_core,
        gpu_fallback=gpu_fallback,
        shapes=shapes,
        device=device,
        tf32=tf32,
    )
    return build_engine(onnx, options, output=output, command=command, log=log)


def build_engine(
    onnx: str | os.PathLike,
    options: TensorRTOptions,
    *,
    output: str | os.PathLike | None = None,
    command: str | None = None,
    log: Callable[[str], None] = print,
) -> BuildResult:
    """Build ``output`` (default: ``onnx`` with suffix .engine) as ``options`` say. Writes the engine
    and its sidecar card; the comparison with the source ONNX is reported, not enforced. Untimed:
    call ``build_tensorrt`` for the ``BuildResult``'s seconds and size."""
    onnx = Path(onnx)
    out = check_output_path(output or onnx.with_suffix(".engine"))
    if options.timing_cache is not None:
        check_output_path(options.timing_cache)
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
            f"{onnx} is quantized for ONNX Runtime CPU (asymmetric uint8 activations), which TensorRT "
            "does not take; make a TensorRT Q/DQ ONNX with `edgeseg quantize --method ptq` (or qat)"
        )
    if card.extra.get("flavour") == "cpu-qdq":  # edgeseg.quant.placement_cpu.CPU_FLAVOUR
        raise BuildError(
            f"{onnx} is placed for the CPU runtimes (quantize --target cpu); TensorRT wants its own "
            "placement: "
            "make one with `edgeseg quantize --target tensorrt` (the default)"
        )
    profile = resolve_profile(graph_inputs(model), options.shapes)
    qdq = is_qdq(model)

    from edgeseg.backends.tensorrt._env import CudaDevice, import_pycuda, import_tensorrt, trt_version

    trt = import_tensorrt()
    cuda = import_pycuda()
    version = trt_version(trt)
    cache_path = options.cache_path(onnx)
    has_calib = options.calib is not None or (options.calib_cache is not None and cache_path.exists())
    plan = plan_build(
        version,
        onnx_is_qdq=qdq,
        fp16=options.fp16,
        int8=options.int8,
        calib=has_calib,
        dla=options.dla_core is not None,
    )
    for w in plan.warnings:
        log(f"warning: {w}")
    log(plan.path_name)
    onnx_sha = sha256_file(onnx)
    command = command or command_line(onnx, out, plan, options)

    gpu = CudaDevice(cuda, options.device)
    calibrator, calibration = None, None
    try:
        timing_key = (
            TimingKey(version, gpu.name, gpu.compute_capability) if options.timing_cache is not None else None
        )
        timing_data = check_timing_cache(options.timing_cache, timing_key) if timing_key is not None else None
        with gpu.active():
            try:
                if plan.needs_calibrator:
                    calibrator, calibration = make_build_calibrator(
                        trt,
                        cuda,
                        onnx=onnx,
                        card=card,
                        profile=profile,
                        options=options,
                        onnx_sha=onnx_sha,
                        version=version,
                        compute_capability=gpu.compute_capability,
                        log=log,
                    )
                t0 = time.perf_counter()
                blob, flags = build_serialized(
                    trt,
                    model=model,
                    onnx=onnx,
                    plan=plan,
                    profile=profile,
                    options=options,
                    calibrator=calibrator,
                    timing_data=timing_data,
                    timing_key=timing_key,
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
        dla_core=options.dla_core,
        gpu_fallback=options.gpu_fallback,
        profile=profile.to_dict(),
        calibration=calibration,
        onnx_sha256=onnx_sha,
        engine_sha256=sha256_bytes(blob),
        engine_size=len(blob),
        build_seconds=seconds,
        build_command=command,
        workspace_mib=options.workspace,
        tf32=options.tf32,
    )
    engine_card = card.replace(
        precision=plan.precision,
        input_size=(int(profile.opt[2]), int(profile.opt[3])) if len(profile.opt) == 4 else card.input_size,
        source=f"{onnx.name}@sha256:{onnx_sha[:16]}",
        calibration=card_calibration(card, calibration),
        extra={**card.extra, "onnx_source": card.source, **extra},
    )
    engine_card.write_sidecar(out)
    return BuildResult(
        path=out,
        precision=plan.precision,
        path_name=plan.path_name,
        card=engine_card,
        notes=plan.warnings,
        comparison=_compare(out, onnx, engine_card, device=options.device, profile=profile),
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
