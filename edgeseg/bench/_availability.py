"""Cheap checks of whether a benchmark row can run on this machine (backend and device present)."""

from __future__ import annotations

from typing import Any


def skip_reason(artifact: str, options: dict[str, Any]) -> str | None:
    """Why this row cannot run on this machine (backend or device absent), or None.

    The backend's part comes from its spec (``available()``, ``run_problem()``, ``install``). Cheap
    checks only: the runner itself still raises MissingDependencyError for anything missed."""
    from pathlib import Path

    from edgeseg.backends import spec_for
    from edgeseg.errors import EdgesegError

    try:
        spec = spec_for(artifact)
    except EdgesegError:
        return None  # no runner for it: the row fails with open_runner's message
    problem = spec.run_problem()
    if problem:
        return problem
    if not spec.available():
        return f"{spec.title} is not installed on this machine ({spec.install})"
    device = str(options.get("device", "cpu"))
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return f"device {device!r} asked for, but torch {torch.__version__} sees no CUDA GPU"
    providers = options.get("providers")
    if providers and Path(artifact).suffix.lower() == ".onnx":
        import onnxruntime as ort

        from edgeseg.backends.onnxruntime.runner import PROVIDER_ALIASES

        names = [
            p[0] if isinstance(p, (list, tuple)) else p
            for p in ([providers] if isinstance(providers, str) else providers)
        ]
        missing = [
            n
            for n in (PROVIDER_ALIASES.get(str(n).lower(), n) for n in names)
            if n not in ort.get_available_providers()
        ]
        if missing:
            return (
                f"ONNX Runtime provider(s) {missing} not available (available: "
                f"{ort.get_available_providers()})"
            )
    return None
