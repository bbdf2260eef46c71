"""Cheap checks of whether a benchmark row can run on this machine (backend and device present)."""

from __future__ import annotations

import sys
from typing import Any


def skip_reason(artifact: str, options: dict[str, Any]) -> str | None:
    """Why this row cannot run on this machine (backend or device absent), or None.

    Cheap checks only: the runner itself still raises MissingDependencyError for anything missed."""
    import importlib.util
    from pathlib import Path

    suffix = Path(artifact).suffix.lower()
    if suffix == ".mlpackage" and sys.platform != "darwin":
        return "Core ML prediction runs on macOS only"
    if suffix == ".xml" and importlib.util.find_spec("openvino") is None:
        return "OpenVINO is not installed on this machine (pip install openvino)"
    if suffix in (".engine", ".plan") and importlib.util.find_spec("tensorrt") is None:
        return "TensorRT is not installed on this machine"
    device = str(options.get("device", "cpu"))
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return f"device {device!r} asked for, but torch {torch.__version__} sees no CUDA GPU"
    providers = options.get("providers")
    if providers and suffix == ".onnx":
        import onnxruntime as ort

        from edgeseg.runtime.ort_runner import PROVIDER_ALIASES

        names = [p[0] if isinstance(p, (list, tuple)) else p for p in ([providers] if isinstance(providers, str) else providers)]
        missing = [n for n in (PROVIDER_ALIASES.get(str(n).lower(), n) for n in names) if n not in ort.get_available_providers()]
        if missing:
            return f"ONNX Runtime provider(s) {missing} not available (available: {ort.get_available_providers()})"
    return None
