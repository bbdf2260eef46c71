"""Run a Core ML package built by ``edgeseg build --backend coreml`` (macOS only).

Core ML prediction needs macOS (the Core ML framework); on other systems the runner refuses at
construction with a clear message (building and spec validation do work on Linux).
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.card import ModelCard
from edgeseg.errors import EdgesegError

COMPUTE_UNITS = ("ALL", "CPU_ONLY", "CPU_AND_GPU", "CPU_AND_NE")


def coreml_prediction_available() -> tuple[bool, str]:
    """(available, reason). Prediction needs macOS 13+ (the packages target iOS16/macOS13)."""
    if sys.platform != "darwin":
        return False, f"Core ML prediction needs macOS; this is {platform.system() or sys.platform}"
    return True, ""


class CoreMLRunner:
    """``CoreMLRunner(path, *, compute_units="ALL")``: a Runner for .mlpackage folders (macOS only)."""

    backend = "coreml"

    def __init__(self, path: str | os.PathLike, *, compute_units: str = "ALL") -> None:
        self.path = Path(path)
        ok, why = coreml_prediction_available()
        if not ok:
            raise EdgesegError(
                f"{self.path}: {why}. The package itself is fine: copy it to a Mac, or run the ONNX with "
                "ONNX Runtime here (edgeseg build MODEL.onnx --backend onnxruntime)"
            )
        if compute_units not in COMPUTE_UNITS:
            raise EdgesegError(f"compute_units {compute_units!r}: expected one of {', '.join(COMPUTE_UNITS)}")
        from edgeseg.build.coreml import INPUT_NAME, METADATA_KEY, OUTPUT_NAME, import_coremltools

        ct = import_coremltools()
        self._in, self._out = INPUT_NAME, OUTPUT_NAME
        self._model = ct.models.MLModel(str(self.path), compute_units=getattr(ct.ComputeUnit, compute_units))
        meta = self._model.user_defined_metadata
        if METADATA_KEY not in meta:
            raise EdgesegError(f"{self.path}: no edgeseg model card in its metadata; rebuild it with edgeseg build")
        self.card: ModelCard = ModelCard.from_json(meta[METADATA_KEY], where=str(self.path))
        self.precision = self.card.precision
        self.compute_units = compute_units

    @property
    def input_size(self) -> tuple[int, int] | None:
        return self.card.input_size

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """NCHW float32 -> NCHW float32 logits (the package takes one frame; batches run frame by frame)."""
        x = np.asarray(batch, dtype=np.float32)
        h, w = self.card.input_size
        if x.ndim != 4 or x.shape[1:] != (3, h, w):
            raise EdgesegError(
                f"expected an NCHW batch with 3 channels at {h}x{w}, found shape {x.shape}; preprocess with size={(h, w)}"
            )
        outs = [np.asarray(self._model.predict({self._in: x[i : i + 1]})[self._out], np.float32) for i in range(len(x))]
        return np.concatenate(outs, 0)

    def close(self) -> None:
        self._model = None

    def __enter__(self) -> "CoreMLRunner":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
