"""The models shipped in ``edgeseg/weights/``, by name: ``cgnet_camvid`` is
``edgeseg/weights/cgnet_camvid.pt``."""

from __future__ import annotations

import os
from pathlib import Path

from edgeseg.errors import EdgesegError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: Endings of shipped artifacts (a checkpoint and its TensorRT-ready QAT INT8 ONNX).
SHIPPED_SUFFIXES = (".pt", ".onnx")


def shipped_models() -> dict[str, Path]:
    """Shipped name (file stem) -> its file in ``edgeseg/weights/``, sorted by name."""
    if not WEIGHTS_DIR.is_dir():
        return {}
    files = [p for p in WEIGHTS_DIR.iterdir() if p.is_file() and p.suffix in SHIPPED_SUFFIXES]
    return {p.stem: p for p in sorted(files)}


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    """An existing path as is, else the shipped model of that name; EdgesegError naming the shipped ones."""
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise EdgesegError(f"expected a model name or path, found {type(name_or_path).__name__}")
    p = Path(name_or_path)
    if p.exists():
        return p
    shipped = shipped_models()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    raise EdgesegError(
        f"{p}: file not found, and not a shipped model name (shipped: {', '.join(shipped) or 'none'}; "
        "`edgeseg models` lists them)"
    )
