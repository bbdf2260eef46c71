"""Modified aligned Xception (Chen et al., DeepLab v3+, ECCV 2018, Sec. 3.2 and Fig. 4).

Differences from the original Xception, as in the paper: every max pooling is a strided depthwise
separable convolution, the middle flow is repeated 16 times (Xception-65), the exit flow ends with
three separable convolutions 1536-1536-2048, and batch normalization + ReLU follow every 3x3
depthwise convolution. Residual blocks are pre-activation (ReLU before each separable conv, the
last one ends at BN so the sum is linear), with a strided 1x1 conv-BN shortcut where shapes change.
Strides beyond ``output_stride`` become dilations (OS 16: exit flow dilated x2; OS 8: the entry
flow's last block keeps stride 1, middle flow x2, exit flow x2 / x4).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from edgeseg.models._blocks import ConvBNAct, SeparableConv

OUTPUT_STRIDES = (8, 16)


class SepConvBN(nn.Sequential):
    """3x3 depthwise conv-BN-ReLU then 1x1 pointwise conv-BN (no activation: the block places ReLUs)."""

    def __init__(self, cin: int, cout: int, *, stride: int = 1, dilation: int = 1) -> None:
        super().__init__(
            ConvBNAct(cin, cin, 3, stride=stride, dilation=dilation, groups=cin),
            ConvBNAct(cin, cout, 1, act=None),
        )


class XceptionBlock(nn.Module):
    """Three separable convs (ReLU before each) with a shortcut; the third carries the stride.

    ``channels`` are the three output widths. The shortcut is identity when the shape is kept, else
    a strided 1x1 conv-BN. ``start_with_relu=False`` for the block right after the stem's ReLU.
    """

    def __init__(
        self,
        cin: int,
        channels: tuple[int, int, int],
        *,
        stride: int = 1,
        dilation: int = 1,
        start_with_relu: bool = True,
    ) -> None:
        super().__init__()
        units: list[nn.Module] = []
        c = cin
        for i, cout in enumerate(channels):
            if i > 0 or start_with_relu:
                units.append(nn.ReLU())
            units.append(SepConvBN(c, cout, stride=stride if i == 2 else 1, dilation=dilation))
            c = cout
        self.units = nn.Sequential(*units)
        if stride == 1 and cin == channels[-1]:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = ConvBNAct(cin, channels[-1], 1, stride=stride, act=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.units(x) + self.shortcut(x)


class AlignedXception(nn.Module):
    """Xception-65 feature extractor returning ``(low, high)``: stride-4 (128 ch) and stride-OS (2048 ch).

    Defaults: output stride 16, 16 middle-flow blocks.
    """

    def __init__(self, *, output_stride: int = 16, middle_repeats: int = 16) -> None:
        super().__init__()
        if output_stride not in OUTPUT_STRIDES:
            raise ValueError(f"output_stride must be one of {OUTPUT_STRIDES}, found {output_stride}")
        if output_stride == 16:
            entry3_stride, middle_dilation, exit_dilations = 2, 1, (1, 2)
        else:
            entry3_stride, middle_dilation, exit_dilations = 1, 2, (2, 4)
        self.stem = nn.Sequential(ConvBNAct(3, 32, 3, stride=2), ConvBNAct(32, 64, 3))
        self.entry1 = XceptionBlock(
            64, (128, 128, 128), stride=2, start_with_relu=False
        )  # stride 4: low level
        self.entry2 = nn.Sequential(
            XceptionBlock(128, (256, 256, 256), stride=2),
            XceptionBlock(256, (728, 728, 728), stride=entry3_stride),
        )
        self.middle = nn.Sequential(
            *[XceptionBlock(728, (728, 728, 728), dilation=middle_dilation) for _ in range(middle_repeats)]
        )
        d1, d2 = exit_dilations
        self.exit = nn.Sequential(
            XceptionBlock(728, (728, 1024, 1024), dilation=d1),
            SeparableConv(1024, 1536, dilation=d2),
            SeparableConv(1536, 1536, dilation=d2),
            SeparableConv(1536, 2048, dilation=d2),
        )
        self.low_channels = 128
        self.out_channels = 2048
        self.output_stride = output_stride

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = self.entry1(self.stem(x))
        return low, self.exit(self.middle(self.entry2(low)))


def xception_backbone(*, output_stride: int = 16, middle_repeats: int = 16) -> AlignedXception:
    """Aligned Xception-65 backbone; defaults output stride 16, 16 middle-flow repeats."""
    return AlignedXception(output_stride=output_stride, middle_repeats=middle_repeats)
