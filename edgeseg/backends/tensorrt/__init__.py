"""TensorRT: ``.engine`` / ``.plan`` files for NVIDIA GPUs and Jetsons (FP32, FP16, INT8 Q/DQ or calibrated).

``build.py`` builds an engine with its sidecar card (``_plan`` picks the path per TensorRT version);
``runner.py`` refuses an engine whose card does not match this TensorRT and GPU before loading it.
Nothing here imports tensorrt or pycuda at import time.
"""

from __future__ import annotations

from pathlib import Path

from edgeseg.backends._options import CALIB, CALIB_NUM, CALIBRATION, FP16, INT8, calib_method_option
from edgeseg.backends._spec import BackendSpec, Option
from edgeseg.backends.tensorrt._env import TRT_HINT
from edgeseg.card import ModelCard
from edgeseg._validate import nonneg_int, positive_int

_CALIB = CALIBRATION


def _available() -> bool:
    from edgeseg.backends.tensorrt._env import tensorrt_available

    return tensorrt_available()


def _read_card(path: Path) -> ModelCard:
    from edgeseg.card import read_sidecar

    return read_sidecar(path)


def _doctor_rows(versions, machine):  # type: ignore[no-untyped-def]
    from edgeseg.backends.tensorrt._doctor import doctor_rows

    return doctor_rows(versions, machine)


SPEC = BackendSpec(
    "tensorrt",
    "TensorRT",
    (".engine", ".plan"),
    runner="TensorRTRunner",
    builds=True,
    calib_num=256,
    output="MODEL.engine (+ MODEL.engine.card.json)",
    artifact_noun="engine",
    packages=("tensorrt", "pycuda"),
    extra="tensorrt",
    install=TRT_HINT,
    options=(
        FP16,
        INT8,
        CALIB,
        CALIB_NUM,
        Option(
            "--calib-cache",
            "calib_cache",
            "TensorRT calibration cache (default calib/MODEL.ALGO.cache); reused only if its key matches",
            metavar="FILE",
            group=_CALIB,
        ),
        calib_method_option("tensorrt", param="calib_algo", aliases=("--calib-algo",)),
        Option(
            "--recalibrate",
            "recalibrate",
            "replace a stale calibration cache instead of refusing",
            switch=True,
            group=_CALIB,
        ),
        Option("--workspace", "workspace", "builder workspace limit", kind=positive_int, metavar="MiB"),
        Option(
            "--timing-cache",
            "timing_cache",
            "read and update a timing cache (faster rebuilds)",
            metavar="FILE",
        ),
        Option(
            "--dla-core",
            "dla_core",
            "build for DLA core N (Jetson Xavier/Orin)",
            kind=nonneg_int,
            metavar="N",
        ),
        Option(
            "--gpu-fallback",
            "gpu_fallback",
            "with --dla-core: run layers the DLA cannot on the GPU",
            switch=True,
        ),
        Option(
            "--shapes",
            "shapes",
            "profile for dynamic inputs, e.g. 1x3x360x480/1x3x360x480/4x3x360x480",
            metavar="MIN/OPT/MAX",
        ),
        Option("--device", "device", "CUDA device index (default 0)", kind=nonneg_int, metavar="N"),
        Option(
            "--tf32",
            "tf32",
            "allow TF32 math in FP32 layers (faster on Ampere/Orin, ~FP16 precision); "
            "default off, as in Polygraphy",
            switch=True,
        ),
    ),
    examples=(
        "edgeseg build cgnet.onnx --fp16                                  # TensorRT FP16",
        "edgeseg build cgnet_qdq.onnx --int8                              # TensorRT INT8 from a Q/DQ ONNX",
        "edgeseg build cgnet.onnx --int8 --calib calib/camvid_train.txt   # TensorRT 8.6/10.x implicit INT8",
    ),
    available=_available,
    read_card=_read_card,
    sidecar=True,
    default_output=lambda onnx: onnx.with_suffix(".engine"),
    doctor_rows=_doctor_rows,
)
