"""PTQ accuracy on validation data: pick the calibration method by mIoU (every method's ranges come
from ONE statistics pass), measure the FP32 -> INT8 drop, and warn when it is too large for PTQ.

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

#: A PTQ that loses more mIoU points than this on val is worth a QAT run.
MAX_PTQ_DROP = 0.5


def _eval(
    model: nn.Module,
    card: ModelCard,
    dataset,
    *,
    precision: str,
    desc: str,
    max_frames: int | None,
    progress: bool,
    device: str | torch.device,
) -> float:
    from edgeseg.module_runner import ModuleRunner
    from edgeseg.train.evaluate import evaluate

    # at the card's input size (frames resized to it, as the exported model takes them), NCHW memory
    # format on every device; a fake-quant model computes in float32 and is labelled with its ``precision``
    runner = ModuleRunner.from_model(
        model, card, device=str(device), channels_last=False, input_size=tuple(card.input_size)
    )
    runner.precision = precision
    return evaluate(runner, dataset, max_frames=max_frames, progress=progress, desc=desc)["miou"]


def compare_methods(
    qmodel: nn.Module,
    stats: dict,
    float_model: nn.Module,
    card: ModelCard,
    dataset,
    *,
    methods: Sequence[str] = METHODS,
    percentile: float = DEFAULT_PERCENTILE,
    bias_correction: str = "none",
    calib=None,
    max_frames: int | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """mIoU of FP32 and of each method on ``dataset``; leaves ``qmodel`` set to the best method.

    With ``bias_correction`` other than "none" (default none), each method's ranges are followed by
    that correction on ``calib`` (a CalibrationSet), and the best method's corrected biases are kept.
    Returns {"fp32": miou, "methods": {method: miou}, "best": method}. Ties go to the earlier
    method in ``methods`` (default order: max, percentile, entropy, mse).
    """
    from edgeseg.quant.bias_correction import bias_state, correct_bias, load_bias_state

    if bias_correction != "none" and calib is None:
        raise ValueError("compare_methods: bias correction needs the calibration set (calib=)")
    kw = dict(max_frames=max_frames, progress=progress, device=device)
    res: dict[str, Any] = {
        "methods": {},
        "fp32": _eval(float_model, card, dataset, precision="fp32", desc="eval fp32", **kw),
    }
    start, biases = bias_state(qmodel), {}
    for m in methods:
        load_bias_state(qmodel, start)
        apply_amax(qmodel, stats, m, percentile=percentile)
        if bias_correction != "none":
            correct_bias(
                qmodel,
                calib.batches(),
                mode=bias_correction,
                total=calib.num_batches(),
                progress=progress,
                device=device,
            )
        biases[m] = bias_state(qmodel)
        res["methods"][m] = _eval(qmodel, card, dataset, precision="int8", desc=f"eval int8 {m}", **kw)
    best = max(methods, key=lambda m: (np.nan_to_num(res["methods"][m], nan=-1.0), -list(methods).index(m)))
    res["best"] = best
    apply_amax(qmodel, stats, best, percentile=percentile)
    load_bias_state(qmodel, biases[best])
    return res


def measure_drop(
    qmodel: nn.Module,
    float_model: nn.Module,
    card: ModelCard,
    dataset,
    *,
    max_frames: int | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """{"fp32": mIoU, "int8": mIoU (fake-quant model), "drop": points} on ``dataset`` (default: all
    frames)."""
    kw = dict(max_frames=max_frames, progress=progress, device=device)
    fp = _eval(float_model, card, dataset, precision="fp32", desc="eval fp32", **kw)
    q = _eval(qmodel, card, dataset, precision="int8", desc="eval int8", **kw)
    return {"fp32": fp, "int8": q, "drop": 100 * (fp - q)}


def drop_warning(fp32: float, int8: float, *, max_drop: float = MAX_PTQ_DROP) -> str | None:
    """A one-line warning suggesting QAT when INT8 loses more than ``max_drop`` mIoU points (default
    0.5), else None. ``fp32`` / ``int8`` are mIoU fractions (0..1)."""
    drop = round(100 * (fp32 - int8), 2)  # as printed: 0.504 reads 0.50, not more than 0.5
    if not drop > max_drop:
        return None
    return (
        f"WARNING: PTQ lost {drop:.2f} mIoU points on val "
        f"(FP32 {100 * fp32:.2f}% -> INT8 {100 * int8:.2f}%), "
        f"more than {max_drop:g}: try QAT (edgeseg quantize CHECKPOINT --method qat --data SPEC)"
    )
