"""Post-training quantization: place fake quantizers, calibrate on a CalibrationSet, correct the
biases, describe it in the card.

Defaults (docs/quantization.md, "PTQ against the peers"): ``mse`` activation ranges and
``sequential`` bias correction, the best pair measured on the shipped CGNet.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from edgeseg.card import ModelCard
from edgeseg.quant.bias_correction import SEQUENTIAL_FRAMES, correct_bias
from edgeseg.data.calib_request import RECORD_KEY, CalibRequest
from edgeseg.quant.calibrate import DEFAULT_PERCENTILE, apply_amax, collect_statistics
from edgeseg.quant.placement import Placement, prepare

#: PTQ defaults: activation range method and bias correction mode.
DEFAULT_METHOD = "mse"
DEFAULT_BIAS_CORRECTION = "sequential"

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
    bias_correction: str = "none",
    source: str | None = None,
    qat: dict[str, Any] | None = None,
    val: dict[str, Any] | None = None,
) -> ModelCard:
    """``card`` with precision int8, calibration facts (method, bias correction, set fingerprint,
    frames), the scheme, and the val measurement when given (default none)."""
    calibration = {"method": method, "bias_correction": bias_correction, **calib_facts}
    if method == "percentile":
        calibration["percentile"] = percentile if percentile is not None else DEFAULT_PERCENTILE
    quant = dict(
        SCHEME,
        calibration_method=method,
        bias_correction=bias_correction,
        folded_bn=len(placement.folded),
        weighted_ops=len(placement.weighted),
        activation_quantizers=len(placement.input_quantizers) + len(placement.residual_quantizers),
    )
    if qat:
        quant["qat"] = qat
    if val:
        quant["val"] = val
    extra = {**card.extra, "flavour": "tensorrt-qdq", "quantization": quant}
    changes: dict[str, Any] = {"precision": "int8", "calibration": calibration, "extra": extra}
    if source is not None:
        changes["source"] = source
    return card.replace(**changes)


def calib_facts(calib, *, request: CalibRequest | None = None) -> dict[str, Any]:
    """The calibration set's identity for cards and caches: fingerprint, frames, size, source, and the
    request it answers (``calibration["request"]``; default: the one the set stands for)."""
    if request is None:
        request = CalibRequest(source=calib.source, num=calib.num, batch=calib.batch, seed=calib.seed)
    return {
        "fingerprint": calib.fingerprint(),
        "frames": len(calib),
        "source": calib.source,
        "size": list(calib.size),
        "batch": calib.batch,
        RECORD_KEY: request.record(),
    }


def ptq(
    model: nn.Module,
    calib,
    *,
    method: str = DEFAULT_METHOD,
    percentile: float = DEFAULT_PERCENTILE,
    bias_correction: str = DEFAULT_BIAS_CORRECTION,
    bias_frames: int | None = SEQUENTIAL_FRAMES,
    progress: bool = True,
    device: torch.device | str = "cpu",
) -> tuple[nn.Module, Placement, dict[str, float], dict]:
    """Fake-quantize ``model``, calibrate it on ``calib`` (a CalibrationSet) with ``method`` (default
    mse), then correct its biases (``bias_correction``: "sequential" (default) on at most
    ``bias_frames`` (64) frames, "fast", or "none"; see ``bias_correction.correct_bias``).

    Returns (quantized model, placement, {quantizer: amax}, statistics). The statistics can give
    other methods' ranges without another pass (``calibrate.apply_amax``; the biases stay as corrected).
    """
    qmodel, placement = prepare(model)
    qmodel.to(device)
    stats = collect_statistics(
        qmodel, calib.batches(), total=calib.num_batches(), progress=progress, device=device
    )
    amax = apply_amax(qmodel, stats, method, percentile=percentile)
    correct_bias(
        qmodel,
        calib.batches(),
        mode=bias_correction,
        frames=bias_frames,
        total=calib.num_batches(),
        progress=progress,
        device=device,
    )
    return qmodel, placement, amax, stats
