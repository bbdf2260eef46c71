"""Quantized (QAT / PTQ) checkpoints that plain ``load_checkpoint`` can still read.

Layout (``edgeseg.checkpoint/1`` with an extra ``state["quant"]``):

- ``model``: the *float architecture's* state dict holding the fine-tuned weights; each folded
  (conv, BN) pair is written as the folded conv weight plus an identity BN carrying the folded bias
  (see :func:`edgeseg.quant.placement.float_state_dict`). So ``load_checkpoint`` returns a working
  FP32 model: the QAT weights without fake quantization.
- ``card``: precision "int8", ``calibration`` (method, set fingerprint, frames), ``extra.quantization``.
- ``state["quant"]``: ``{"format": "edgeseg.quant/1", "amax": {quantizer: float}, "placement": {...}}``.

:func:`load_quantized_checkpoint` rebuilds the fake-quant model (fold, place, load ranges); runners
that must execute INT8 numerics in PyTorch use it when ``card.precision == "int8"``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch.nn as nn

from edgeseg.card import ModelCard
from edgeseg.errors import CheckpointError
from edgeseg.quant.placement import Placement, float_state_dict, prepare

QUANT_FORMAT = "edgeseg.quant/1"


def save_quantized_checkpoint(
    path: str | os.PathLike,
    *,
    qmodel: nn.Module,
    placement: Placement,
    card: ModelCard,
    extra_state: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint whose weights load into the float architecture and whose ranges restore QAT."""
    from edgeseg.models import build_model
    from edgeseg.quant.calibrate import is_calibrated
    from edgeseg.quant.fakequant import activation_quantizers
    from edgeseg.train.checkpoint import save_checkpoint

    if not is_calibrated(qmodel):
        raise CheckpointError("refusing to save a quantized checkpoint with uncalibrated quantizers")
    float_model = build_model(card.arch, num_classes=card.num_classes, **card.arch_args)
    float_model.load_state_dict(float_state_dict(qmodel, float_model, placement))
    amax = {name: float(q.amax) for name, q in activation_quantizers(qmodel).items()}
    state = {"quant": {"format": QUANT_FORMAT, "amax": amax, "placement": placement.to_dict()}}
    if extra_state:
        state.update(extra_state)
    return save_checkpoint(path, model=float_model, card=card, state=state)


def is_quantized_checkpoint(payload: dict[str, Any]) -> bool:
    st = payload.get("state") or {}
    return isinstance(st, dict) and isinstance(st.get("quant"), dict)


def load_quantized_checkpoint(path: str | os.PathLike) -> tuple[nn.Module, ModelCard, dict[str, Any]]:
    """(fake-quant model in eval mode, card, payload) from a checkpoint saved above."""
    from edgeseg.errors import QuantizationError
    from edgeseg.quant.calibrate import load_amax
    from edgeseg.train.checkpoint import load_checkpoint

    model, card, payload = load_checkpoint(path)
    if not is_quantized_checkpoint(payload):
        raise CheckpointError(
            f"{path}: not a quantized checkpoint (no state['quant']); it is a {card.precision} model"
        )
    quant = payload["state"]["quant"]
    if quant.get("format") != QUANT_FORMAT:
        raise CheckpointError(
            f"{path}: quantization format {quant.get('format')!r}, expected {QUANT_FORMAT!r}"
        )
    qmodel, _ = prepare(model)
    try:
        load_amax(qmodel, quant.get("amax", {}), where=str(path))
    except QuantizationError as e:
        raise CheckpointError(str(e)) from e
    return qmodel.eval(), card, payload
