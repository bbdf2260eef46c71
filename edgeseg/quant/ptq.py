"""Post-training quantization: place fake quantizers, calibrate on a CalibrationSet, describe it in the card."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from edgeseg.card import ModelCard
from edgeseg.quant.calibrate import DEFAULT_PERCENTILE, apply_amax, collect_statistics
from edgeseg.quant.placement import Placement, prepare

#: What every TensorRT-flavoured INT8 artifact states in ``card.extra["quantization"]``.
SCHEME = {
    "flavour": "tensorrt-qdq",
    "scheme": "int8 symmetric (zero point 0, scale = amax / 127)",
    "weights": "per-output-channel, max",
    "activations": "per-tensor, calibrated",
    "tool": "edgeseg.quant (torch fake-quantize ops, TorchScript ONNX exporter)",
}


def quantized_card(
    card: ModelCard,
    *,
    method: str,
    calib_facts: dict[str, Any],
    placement: Placement,
    percentile: float | None = None,
    source: str | None = None,
    qat: dict[str, Any] | None = None,
) -> ModelCard:
    """``card`` with precision int8, calibration facts (method, set fingerprint, frames) and the scheme."""
    calibration = {"method": method, **calib_facts}
    if method == "percentile":
        calibration["percentile"] = percentile if percentile is not None else DEFAULT_PERCENTILE
    quant = dict(SCHEME, folded_bn=len(placement.folded), weighted_ops=len(placement.weighted),
                 activation_quantizers=len(placement.input_quantizers) + len(placement.residual_quantizers))
    if qat:
        quant["qat"] = qat
    extra = {**card.extra, "flavour": "tensorrt-qdq", "quantization": quant}
    changes: dict[str, Any] = {"precision": "int8", "calibration": calibration, "extra": extra}
    if source is not None:
        changes["source"] = source
    return card.replace(**changes)


def calib_facts(calib) -> dict[str, Any]:
    """The calibration set's identity for cards and caches: fingerprint, frames, size, source."""
    return {"fingerprint": calib.fingerprint(), "frames": len(calib), "source": calib.source,
            "size": list(calib.size), "batch": calib.batch}


def ptq(
    model: nn.Module,
    calib,
    *,
    method: str = "max",
    percentile: float = DEFAULT_PERCENTILE,
    progress: bool = True,
    device: torch.device | str = "cpu",
) -> tuple[nn.Module, Placement, dict[str, float], dict]:
    """Fake-quantize ``model`` and calibrate it on ``calib`` (a CalibrationSet) with ``method``.

    Returns (quantized model, placement, {quantizer: amax}, statistics). The statistics can give
    other methods' ranges without another pass (``calibrate.apply_amax``).
    """
    qmodel, placement = prepare(model)
    qmodel.to(device)
    stats = collect_statistics(qmodel, calib.batches(), total=calib.num_batches(), progress=progress, device=device)
    amax = apply_amax(qmodel, stats, method, percentile=percentile)
    return qmodel, placement, amax, stats
