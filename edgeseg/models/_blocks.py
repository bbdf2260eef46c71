"""Small shared building blocks (conv-BN-act, depthwise-separable conv)."""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) + BatchNorm + activation. Default: ReLU, 'same' padding for odd kernels."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int = 3,
        *,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        act: type[nn.Module] | None = nn.ReLU,
        bn_eps: float = 1e-5,
    ) -> None:
        pad = dilation * (kernel - 1) // 2
        layers: list[nn.Module] = [
            nn.Conv2d(
                cin, cout, kernel, stride=stride, padding=pad, dilation=dilation, groups=groups, bias=False
            ),
            nn.BatchNorm2d(cout, eps=bn_eps),
        ]
        if act is not None:
            layers.append(act(cout) if act is nn.PReLU else act())
        super().__init__(*layers)


class SeparableConv(nn.Sequential):
    """Depthwise 3x3 (dilated) conv-BN-ReLU then pointwise 1x1 conv-BN-ReLU (DeepLab v3+ style)."""

    def __init__(self, cin: int, cout: int, *, kernel: int = 3, stride: int = 1, dilation: int = 1) -> None:
        super().__init__(
            ConvBNAct(cin, cin, kernel, stride=stride, dilation=dilation, groups=cin),
            ConvBNAct(cin, cout, 1),
        )


def resize_to(x, size):
    """Bilinear resize of logits/features to ``size`` (H, W), align_corners=False."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
