"""Pick the calibration method by validation mIoU: every method's ranges come from ONE statistics pass.

The INT8 numerics are evaluated with the fake-quant PyTorch model, which matches ONNX Runtime on
the exported Q/DQ graph to float rounding (tests/quant check this), so no export per method.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn as nn

from edgeseg.card import ModelCard
from edgeseg.quant.calibrate import DEFAULT_PERCENTILE, METHODS, apply_amax


class ModuleRunner:
    """An in-memory model as a Runner (fixed input size = the card's), for evaluate()."""

    backend = "torch"

    def __init__(self, model: nn.Module, card: ModelCard, *, precision: str = "fp32", device: str | torch.device = "cpu") -> None:
        self.model, self.card, self.precision, self.device = model.eval(), card, precision, torch.device(device)

    @property
    def input_size(self) -> tuple[int, int]:
        return tuple(self.card.input_size)

    @torch.inference_mode()
    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self.model(torch.from_numpy(batch).to(self.device)).float().cpu().numpy()

    def __enter__(self) -> "ModuleRunner":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def compare_methods(
    qmodel: nn.Module,
    stats: dict,
    float_model: nn.Module,
    card: ModelCard,
    dataset,
    *,
    methods: Sequence[str] = METHODS,
    percentile: float = DEFAULT_PERCENTILE,
    max_frames: int | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """mIoU of FP32 and of each method on ``dataset``; leaves ``qmodel`` set to the best method.

    Returns {"fp32": miou, "methods": {method: miou}, "best": method}. Ties go to the earlier
    method in ``methods`` (default order: max, percentile, entropy, mse).
    """
    from edgeseg.train.evaluate import evaluate

    res: dict[str, Any] = {"methods": {}}
    fp = evaluate(ModuleRunner(float_model, card, device=device), dataset, max_frames=max_frames, progress=progress, desc="eval fp32")
    res["fp32"] = fp["miou"]
    for m in methods:
        apply_amax(qmodel, stats, m, percentile=percentile)
        r = evaluate(ModuleRunner(qmodel, card, precision="int8", device=device), dataset, max_frames=max_frames,
                     progress=progress, desc=f"eval int8 {m}")
        res["methods"][m] = r["miou"]
    best = max(methods, key=lambda m: (np.nan_to_num(res["methods"][m], nan=-1.0), -list(methods).index(m)))
    res["best"] = best
    apply_amax(qmodel, stats, best, percentile=percentile)
    return res
