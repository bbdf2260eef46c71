"""FLOPs and parameter counts of segmentation models.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` over one eval-mode forward pass:
FLOPs = 2 x multiply-accumulates of convolutions (depthwise included) and matrix multiplies as torch
counts them. Element-wise ops, BatchNorm, activations, pooling and resizing are not counted (they
are a few percent at most for these models). GFLOPs here are 1e9 FLOPs, not 1e9 MACs: divide by two
to compare with papers that report "FLOPs" as MACs.

By-name counts build the model on PyTorch's ``meta`` device (shapes only, no memory or compute), so
even the heavy Xception counts in well under a second; a model that cannot run on ``meta`` is
counted on the CPU instead.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from edgeseg.models import build_model, count_parameters


def _device_of(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def count_flops(model: nn.Module, *, size: tuple[int, int] = (360, 480), batch: int = 1) -> int:
    """FLOPs (2 x MACs of conv + matmul, as counted by torch) of one eval-mode forward pass of a
    ``batch`` x 3 x H x W input on the model's device. Defaults: size (360, 480), batch 1.
    The model's train/eval mode is restored afterwards."""
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1 or batch < 1:
        raise ValueError(f"size and batch must be positive, found size {size}, batch {batch}")
    was_training = model.training
    x = torch.zeros(batch, 3, h, w, device=_device_of(model))
    counter = FlopCounterMode(display=False)
    try:
        model.eval()
        with torch.no_grad(), counter:
            model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def model_complexity(
    name_or_model: str | nn.Module,
    *,
    num_classes: int = 11,
    size: tuple[int, int] = (360, 480),
) -> dict[str, Any]:
    """``{"params": int, "gflops": float}`` of a registered model name (built with ``num_classes``,
    default 11, on the meta device) or of a module (``num_classes`` is then unused) at ``size``
    (H, W), default (360, 480). GFLOPs = 1e9 x (2 x MACs), see ``count_flops``."""
    if isinstance(name_or_model, nn.Module):
        model = name_or_model
        flops = count_flops(model, size=size)
    else:
        with torch.device("meta"):
            model = build_model(name_or_model, num_classes=num_classes)
        try:
            flops = count_flops(model, size=size)
        except (NotImplementedError, RuntimeError):  # an op without a meta kernel: count on the CPU
            model = build_model(name_or_model, num_classes=num_classes)
            flops = count_flops(model, size=size)
    return {"params": count_parameters(model), "gflops": flops / 1e9}


def conv_flops_by_kind(model: nn.Module, *, size: tuple[int, int] = (360, 480)) -> dict[str, float]:
    """GFLOPs (2 x MACs) of one eval-mode forward pass at ``size`` (default 360x480, batch 1) split by
    convolution kind: ``dense`` (groups == 1, 1x1 included) and ``channel_wise`` (groups > 1: depthwise
    and CGNet's channel-wise convs). Dense convs run on VNNI/AMX dot-product kernels near the matmul peak;
    channel-wise ones cannot (no reduction across channels), which is why a roofline reads them apart."""
    out = {"dense": 0.0, "channel_wise": 0.0}

    def hook(mod: nn.Conv2d, _inp: Any, y: torch.Tensor) -> None:
        kh, kw = mod.kernel_size
        macs = y.numel() * (mod.in_channels // mod.groups) * kh * kw
        out["dense" if mod.groups == 1 else "channel_wise"] += 2.0 * macs / 1e9

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, int(size[0]), int(size[1]), device=_device_of(model)))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return out
