"""Build deployable artifacts from an exported model: TensorRT engines, ONNX Runtime CPU models,
Core ML packages, OpenVINO IRs. Each backend module exposes one keyword-only function returning a BuildResult:

- ``edgeseg.build.tensorrt.build_tensorrt(onnx, ...)``     -> ``model.engine`` (+ ``.card.json``)
- ``edgeseg.build.onnxruntime.build_onnxruntime(onnx, ...)`` -> ``model.ort.onnx`` (card in metadata)
- ``edgeseg.build.coreml.build_coreml(model, ...)``        -> ``model.mlpackage`` (card in metadata + sidecar)
- ``edgeseg.build.openvino.build_openvino(onnx, ...)``     -> ``model.xml`` + ``model.bin`` (card in rt_info)

Which options each backend accepts is the table ``OPTIONS`` in ``_options.py``.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from edgeseg.build._options import BACKEND_NAMES, OPTIONS, check_options, given_options
from edgeseg.card import ModelCard
from edgeseg.errors import EdgesegError

#: backend -> "module:function". Explicit, greppable.
BACKENDS: dict[str, str] = {
    "tensorrt": "edgeseg.build.tensorrt:build_tensorrt",
    "onnxruntime": "edgeseg.build.onnxruntime:build_onnxruntime",
    "coreml": "edgeseg.build.coreml:build_coreml",
    "openvino": "edgeseg.build.openvino:build_openvino",
}

#: backend -> the Python package it needs.
BACKEND_PACKAGES: dict[str, str] = {"tensorrt": "tensorrt", "onnxruntime": "onnxruntime", "coreml": "coremltools", "openvino": "openvino"}

__all__ = [
    "BACKENDS", "BACKEND_NAMES", "OPTIONS", "BuildResult", "available_backends", "backend_function",
    "check_options", "default_backend", "given_options", "human_size",
]


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote. ``path_name`` says which path was taken (e.g. "TensorRT 10.3: FP16 via builder flag")."""

    backend: str
    path: Path
    precision: str
    path_name: str
    seconds: float
    size_bytes: int
    card: ModelCard
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        """The one success line printed per build."""
        return (
            f"built {self.backend} {self.precision} ({self.path_name}) in {self.seconds:.{2 if self.seconds < 10 else 1}f} s: "
            f"{self.path} ({human_size(self.size_bytes)})"
        )


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"  # pragma: no cover


def _importable(backend: str) -> bool:
    if backend == "tensorrt":
        from edgeseg.build._trt_env import tensorrt_available

        return tensorrt_available()
    return importlib.util.find_spec(BACKEND_PACKAGES[backend]) is not None


def available_backends() -> list[str]:
    """Backends whose library imports here, in BACKEND_NAMES order."""
    return [b for b in BACKEND_NAMES if _importable(b)]


def default_backend() -> str:
    """'tensorrt' when TensorRT imports; otherwise an error naming the backends that are available."""
    if _importable("tensorrt"):
        return "tensorrt"
    others = [b for b in BACKEND_NAMES if b != "tensorrt" and _importable(b)]
    raise EdgesegError(
        "TensorRT is not installed here, so there is no default backend; "
        + (f"available backends: {', '.join(others)} (pass --backend NAME)" if others else "no backend is available")
        + " — see docs/jetson.md to install TensorRT"
    )


def backend_function(backend: str) -> Callable[..., BuildResult]:
    if backend not in BACKENDS:
        raise EdgesegError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    mod, fn = BACKENDS[backend].split(":")
    return getattr(importlib.import_module(mod), fn)
