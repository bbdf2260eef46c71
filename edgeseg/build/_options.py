"""Which build option each backend accepts. An option given to a backend that does not take it is
rejected with a message naming the backends that do (never silently ignored)."""

from __future__ import annotations

from typing import Any, Mapping

from edgeseg.errors import UnsupportedOptionError

BACKEND_NAMES = ("tensorrt", "onnxruntime", "coreml", "openvino")

#: argparse dest -> (command-line flag, backends that accept it). Explicit and tested row by row.
OPTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "fp16": ("--fp16", ("tensorrt", "onnxruntime", "coreml")),
    "int8": ("--int8", ("tensorrt", "onnxruntime", "coreml", "openvino")),
    "calib": ("--calib", ("tensorrt", "onnxruntime")),
    "calib_num": ("--calib-num", ("tensorrt", "onnxruntime")),
    "calib_cache": ("--calib-cache", ("tensorrt",)),
    "calib_algo": ("--calib-method", ("tensorrt",)),
    "recalibrate": ("--recalibrate", ("tensorrt",)),
    "workspace": ("--workspace", ("tensorrt",)),
    "timing_cache": ("--timing-cache", ("tensorrt",)),
    "dla_core": ("--dla-core", ("tensorrt",)),
    "gpu_fallback": ("--gpu-fallback", ("tensorrt",)),
    "shapes": ("--shapes", ("tensorrt",)),
    "device": ("--device", ("tensorrt",)),
    "threads": ("--threads", ("onnxruntime", "openvino")),
    "opt_level": ("--opt-level", ("onnxruntime",)),
    "per_tensor": ("--per-tensor", ("onnxruntime",)),
    "no_rewrite": ("--no-rewrite", ("onnxruntime", "openvino")),
    "min_target": ("--min-target", ("coreml",)),
}


def given_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """The table's options that were actually set (not None / False)."""
    return {k: v for k, v in values.items() if k in OPTIONS and v is not None and v is not False}


def check_options(backend: str, values: Mapping[str, Any]) -> None:
    """Raise UnsupportedOptionError for every option in ``values`` that ``backend`` does not take."""
    if backend not in BACKEND_NAMES:
        raise UnsupportedOptionError(f"unknown backend {backend!r}; expected one of {', '.join(BACKEND_NAMES)}")
    bad = []
    for dest in given_options(values):
        flag, backends = OPTIONS[dest]
        if backend not in backends:
            bad.append(f"{flag} (accepted by {', '.join(backends)})")
    if bad:
        raise UnsupportedOptionError(f"--backend {backend} does not take " + "; ".join(bad))
