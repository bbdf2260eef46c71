"""``TensorRTOptions``: the settings of one TensorRT build (the ``build --backend tensorrt`` flags) as
one record, checked when made; the default calibration cache path; the command line that repeats a
build (stored in the engine card)."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from edgeseg.backends.tensorrt._plan import BuildPlan
from edgeseg.errors import BuildError

DEFAULT_CALIB_DIR = Path("calib")


def default_cache_path(onnx: Path, algorithm: str) -> Path:
    """calib/<onnx stem>.<algorithm>.cache (relative to the working folder)."""
    return DEFAULT_CALIB_DIR / f"{onnx.stem}.{algorithm}.cache"


@dataclass(frozen=True)
class TensorRTOptions:
    """One TensorRT build's settings. Defaults: FP32 (``fp16``/``int8`` False), no calibration source,
    ``calib_num`` None (the spec's count), cache at ``default_cache_path`` with the ``entropy``
    algorithm, reused when its key matches (``recalibrate`` False), TensorRT's workspace, no timing
    cache, GPU (no DLA core, no GPU fallback), no ``--shapes`` profile, CUDA device 0, TF32 off.

    ``calib``: a CalibrationSet source (list file or folder) for implicit INT8 on 8.5-10.x.
    ``workspace`` in MiB. ``shapes``: "min/opt/max", required when the ONNX input has dynamic dims.
    ``tf32``: allow TF32 math for FP32 layers (TensorRT enables it by default on Ampere and newer;
    edgeseg clears ``BuilderFlag.TF32`` unless asked, as Polygraphy does)."""

    fp16: bool = False
    int8: bool = False
    calib: str | None = None
    calib_num: int | None = None
    calib_cache: str | os.PathLike | None = None
    calib_algo: str = "entropy"
    recalibrate: bool = False
    workspace: int | None = None
    timing_cache: str | os.PathLike | None = None
    dla_core: int | None = None
    gpu_fallback: bool = False
    shapes: str | None = None
    device: int = 0
    tf32: bool = False

    def __post_init__(self) -> None:
        if self.gpu_fallback and self.dla_core is None:
            raise BuildError("--gpu-fallback only applies with --dla-core N")

    def cache_path(self, onnx: Path) -> Path:
        """``calib_cache``, else ``default_cache_path(onnx, calib_algo)``."""
        return Path(self.calib_cache) if self.calib_cache else default_cache_path(onnx, self.calib_algo)


def command_line(onnx: Path, out: Path, plan: BuildPlan, options: TensorRTOptions) -> str:
    """The ``edgeseg build`` command that makes this engine (``CALIB_LIST`` when no source was given)."""
    parts = ["edgeseg", "build", str(onnx), "--backend", "tensorrt"]
    if plan.precision == "fp16":
        parts.append("--fp16")
    if plan.precision == "int8":
        parts.append("--int8")
        if plan.needs_calibrator:
            parts += ["--calib", options.calib or "CALIB_LIST"]
    if options.shapes:
        parts += ["--shapes", options.shapes]
    if options.dla_core is not None:
        parts += ["--dla-core", str(options.dla_core)] + (["--gpu-fallback"] if options.gpu_fallback else [])
    if options.tf32:
        parts.append("--tf32")
    parts += ["-o", str(out)]
    return shlex.join(parts)
