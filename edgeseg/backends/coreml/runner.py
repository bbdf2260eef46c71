"""Run a Core ML package built by ``edgeseg build --backend coreml`` (macOS only).

Core ML prediction needs macOS (the Core ML framework); on other systems the runner refuses at
construction with a clear message (building and spec validation do work on Linux).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgeseg.runner import BaseRunner
from edgeseg.backends.coreml import run_problem
from edgeseg.card import ModelCard
from edgeseg.errors import EdgesegError

COMPUTE_UNITS = ("ALL", "CPU_ONLY", "CPU_AND_GPU", "CPU_AND_NE")


def coreml_prediction_available() -> tuple[bool, str]:
    """(available, reason). Prediction needs macOS 13+ (the packages target iOS16/macOS13)."""
    why = run_problem()
    return why is None, why or ""


class CoreMLRunner(BaseRunner):
    """``CoreMLRunner(path, *, compute_units="ALL")``: a Runner for .mlpackage folders (macOS only).
    The package takes one frame at its card's size; a batch runs frame by frame."""

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
        from edgeseg.backends.coreml import INPUT_NAME, METADATA_KEY, OUTPUT_NAME, import_coremltools

        ct = import_coremltools()
        self._in, self._out = INPUT_NAME, OUTPUT_NAME
        self._model = ct.models.MLModel(str(self.path), compute_units=getattr(ct.ComputeUnit, compute_units))
        meta = self._model.user_defined_metadata
        if METADATA_KEY not in meta:
            raise EdgesegError(
                f"{self.path}: no edgeseg model card in its metadata; rebuild it with edgeseg build"
            )
        self.card: ModelCard = ModelCard.from_json(meta[METADATA_KEY], where=str(self.path))
        self.precision = self.card.precision
        self.compute_units = compute_units
        self.options = {"compute_units": compute_units}
        self._limits(size=self.card.input_size, batch=(1, 1))

    def _infer_chunk(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._model.predict({self._in: x})[self._out], np.float32)

    def _release(self) -> None:
        self._model = None
