"""The head an exported graph ends in (``edgeseg export --head``): logits, or a uint8 label map.

- "logits" (default): the model as it is, N x C x H x W float32 logits.
- "labels": the arg-max over the classes of those logits, as N x 1 x H x W uint8 (no C x H x W float
  copy leaves the runtime). Equal to ``logits.argmax(1)`` of the logits export.
- "labels-lowres": the arg-max of the logits at their own resolution (``forward_lowres``: CGNet 1/8,
  DeepLab v3+ 1/4), then a nearest resize of the labels to H x W: the bilinear resize of C float
  channels is never computed. It differs from "labels" near class boundaries only (the nearest
  source pixel of an integer upscale is the one ``floor(i / scale)`` names, the same one the
  bilinear resize weighs most).

The card records the head in ``extra["head"]`` (``edgeseg.card.head_of`` reads it; absent: logits).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from edgeseg.card import HEADS
from edgeseg.errors import EdgesegError

#: The graph output's name per head (the input is always "input").
OUTPUT_NAMES = {"logits": "logits", "labels": "labels", "labels-lowres": "labels"}


class LabelsHead(nn.Module):
    """``model`` ending in an arg-max: N x 1 x H x W uint8 class ids. ``lowres`` (default False): take
    the arg-max at ``model.forward_lowres``'s resolution and resize the labels (nearest) to the input size."""

    def __init__(self, model: nn.Module, *, lowres: bool = False) -> None:
        super().__init__()
        self.model = model
        self.lowres = bool(lowres)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.lowres:
            return self.model(x).argmax(1, keepdim=True).to(torch.uint8)
        labels = self.model.forward_lowres(x).argmax(1, keepdim=True).to(torch.uint8)
        return F.interpolate(labels, size=x.shape[2:], mode="nearest")


def check_head(head: str, model: nn.Module | None = None, *, arch: str = "the model") -> None:
    """EdgesegError (one line) when ``head`` is not one of ``HEADS``, or is "labels-lowres" and ``model``
    has no ``forward_lowres`` (the logits before the final resize)."""
    if head not in HEADS:
        raise EdgesegError(f"head {head!r}: expected one of {', '.join(HEADS)}")
    if head == "labels-lowres" and model is not None and not callable(getattr(model, "forward_lowres", None)):
        raise EdgesegError(
            f"--head labels-lowres: {arch} has no forward_lowres (its logits before the final resize); "
            "use --head labels"
        )


def with_head(model: nn.Module, head: str = "logits", *, arch: str = "the model") -> nn.Module:
    """``model`` unchanged for "logits" (default), else wrapped in a ``LabelsHead`` (see the module doc)."""
    check_head(head, model, arch=arch)
    return model if head == "logits" else LabelsHead(model, lowres=head == "labels-lowres")
