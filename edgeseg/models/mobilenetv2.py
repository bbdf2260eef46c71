"""MobileNetV2 backbone (Sandler et al., CVPR 2018) for segmentation, written here (no torchvision).

Inverted residual blocks (1x1 expand, 3x3 depthwise, 1x1 linear projection), ReLU6. The final
1x1 conv to 1280 channels and the classifier are dropped: segmentation heads read the 320-channel
features. Strides beyond ``output_stride`` become dilations (the first block of a dilated stage
keeps the previous dilation, the following blocks use the new one, as torchvision's ResNet does).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from edgeseg.models._blocks import ConvBNAct

#: (expansion t, channels c, repeats n, first stride s), the paper's Table 2 without the 1280 conv.
MOBILENETV2_CONFIG: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
OUTPUT_STRIDES = (8, 16, 32)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of ``divisor`` without going below 90% of ``value``."""
    out = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * value else out


class InvertedResidual(nn.Module):
    """1x1 expand (ReLU6) -> 3x3 depthwise (ReLU6, strided or dilated) -> 1x1 linear; residual when shapes
    match."""

    def __init__(self, cin: int, cout: int, *, stride: int = 1, expand: int = 6, dilation: int = 1) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNAct(cin, hidden, 1, act=nn.ReLU6))
        layers += [
            ConvBNAct(hidden, hidden, 3, stride=stride, dilation=dilation, groups=hidden, act=nn.ReLU6),
            ConvBNAct(hidden, cout, 1, act=None),
        ]
        self.conv = nn.Sequential(*layers)
        self.use_residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y if self.use_residual else y


class MobileNetV2(nn.Module):
    """MobileNetV2 feature extractor returning ``(low, high)``: stride-4 and stride-``output_stride`` maps.

    Defaults: width 1.0 (24 low-level and 320 high-level channels), output stride 16.
    """

    def __init__(self, *, width: float = 1.0, output_stride: int = 16) -> None:
        super().__init__()
        if output_stride not in OUTPUT_STRIDES:
            raise ValueError(f"output_stride must be one of {OUTPUT_STRIDES}, found {output_stride}")
        if width <= 0:
            raise ValueError(f"width must be > 0, found {width}")
        cin = make_divisible(32 * width)
        layers: list[nn.Module] = [ConvBNAct(3, cin, 3, stride=2, act=nn.ReLU6)]  # the stem
        stride, dilation = 2, 1
        low_index = low_channels = None
        for t, c, n, s in MOBILENETV2_CONFIG:
            cout = make_divisible(c * width)
            prev_dilation = dilation
            if s == 2 and stride >= output_stride:
                dilation, s = dilation * 2, 1
            stride *= s
            for i in range(n):
                layers.append(
                    InvertedResidual(
                        cin,
                        cout,
                        stride=s if i == 0 else 1,
                        expand=t,
                        dilation=prev_dilation if i == 0 else dilation,
                    )
                )
                cin = cout
            if stride == 4:  # the last block at stride 4 gives the decoder's low-level features
                low_index, low_channels = len(layers), cout
        assert low_index is not None and low_channels is not None
        self.features = nn.Sequential(*layers)
        self.low_index = low_index
        self.low_channels = low_channels
        self.out_channels = cin
        self.output_stride = output_stride

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = x
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i + 1 == self.low_index:
                low = x
        return low, x


def mobilenetv2_backbone(*, width: float = 1.0, output_stride: int = 16) -> MobileNetV2:
    """MobileNetV2 backbone; defaults width 1.0, output stride 16 (8 and 32 also accepted)."""
    return MobileNetV2(width=width, output_stride=output_stride)
