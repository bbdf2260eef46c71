"""The calibration step of a TensorRT INT8 build on 8.5-10.x (implicit quantization): open the
calibration set at the profile's opt shape, key the cache (model, data, preprocessing, TensorRT, GPU,
algorithm, batch), reuse it when the key matches, else calibrate; and the calibration facts that go
into the engine card."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from edgeseg._io import ensure_writable_dir
from edgeseg.backends.tensorrt import SPEC
from edgeseg.backends.tensorrt._calib_cache import CacheKey, check_cache, preprocessing_of
from edgeseg.backends.tensorrt.options import TensorRTOptions
from edgeseg.card import ModelCard
from edgeseg.onnxgraph.info import Profile


def make_build_calibrator(
    trt: Any,
    cuda: Any,
    *,
    onnx: Path,
    card: ModelCard,
    profile: Profile,
    options: TensorRTOptions,
    onnx_sha: str,
    version: str,
    compute_capability: str,
    log: Callable[[str], None],
) -> tuple[Any, dict[str, Any]]:
    """The implicit-INT8 calibrator (a fresh calibration or a reused cache whose key matches) and the
    calibration facts for the engine card."""
    calib, algorithm = options.calib, options.calib_algo
    cache_path = options.cache_path(onnx)
    from edgeseg.backends._calib_set import open_calib_set
    from edgeseg.backends.tensorrt._calibrator import make_calibrator

    shape = tuple(int(v) for v in profile.opt)  # TensorRT calibrates at the profile's opt shape
    size = (shape[2], shape[3])
    ensure_writable_dir(cache_path.parent if str(cache_path.parent) else Path("."), create=True)
    calib_set = (
        open_calib_set(calib, card, num=options.calib_num or SPEC.calib_num, batch=shape[0], size=size)
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
    reuse = check_cache(cache_path, key, recalibrate=options.recalibrate, have_set=calib_set is not None)
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


def card_calibration(card: ModelCard, calibration: dict[str, Any] | None) -> dict[str, Any]:
    """The engine card's calibration: the calibrator's facts, else the Q/DQ ONNX's own."""
    if calibration is None:
        return dict(card.calibration)  # Q/DQ ONNX: keep what quantize recorded
    return {**calibration, "method": f"tensorrt-{calibration['algorithm']}"}
