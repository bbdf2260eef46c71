"""Parity check: the exported ONNX (through ONNX Runtime) against the eager PyTorch model on real frames,
judged by ``edgeseg.export.compare.compare`` with the "export" tolerance (atol 1e-3, rtol 1e-3,
99.9% argmax agreement on decisive pixels). Why these numbers: see docs/export.md.

The ONNX is opened by the ``open_onnx`` the caller passes (``edgeseg.backends.open_runner``: the
onnxruntime backend's ``OrtRunner``, which also checks the graph against its card), so this layer
never imports a backend (docs/architecture.md, "Layers").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgeseg.card import ModelCard
from edgeseg.export.compare import TOLERANCES, Comparison, compare
from edgeseg.runner import Runner

DEFAULT_ATOL = TOLERANCES["export"].atol
DEFAULT_RTOL = TOLERANCES["export"].rtol
DEFAULT_AGREE_MIN = TOLERANCES["export"].agree_min


def check_parity(
    onnx_path: str | os.PathLike,
    model: Any,
    frames_bgr: Sequence[np.ndarray],
    card: ModelCard,
    *,
    open_onnx: Callable[[Path], Runner],
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    agree_min: float = DEFAULT_AGREE_MIN,
    size: tuple[int, int] | None = None,
    head: str = "logits",
) -> Comparison:
    """Run ``frames_bgr`` through the ONNX file (``open_onnx(path)``, a Runner; the CLI passes
    ``edgeseg.backends.open_runner``: OrtRunner on the CPU) and the eager ``model`` (fp32,
    NCHW, CPU) after the same card-driven preprocessing, and compare the logits (``head`` "labels" /
    "labels-lowres": the eager model ends in the same head and the label maps are compared, see
    ``edgeseg.export.compare``).

    Frames are resized to the ONNX's static input size, else to ``size``, else to ``card.input_size``.
    ``model`` is not modified (the reference runs on a CPU fp32 copy of it).
    """
    from edgeseg.data.preprocess import preprocess
    from edgeseg.export.head import with_head
    from edgeseg.module_runner import ModuleRunner

    with open_onnx(Path(onnx_path)) as ort_runner:
        hw = ort_runner.input_size or size or card.input_size
        batch = preprocess(list(frames_bgr), card, size=hw)
        out = ort_runner.infer(batch)
    with ModuleRunner.from_model(with_head(model, head), card, channels_last=False, copy=True) as ref_runner:
        ref = ref_runner.infer(batch)
    return compare(ref, out, tolerance="export", atol=atol, rtol=rtol, agree_min=agree_min)
