"""DeepLab v3+ (Chen et al., "Encoder-Decoder with Atrous Separable Convolution", ECCV 2018).

Encoder: a backbone at output stride 16 (or 8) and atrous spatial pyramid pooling (ASPP): a 1x1
conv, three 3x3 atrous convs at rates 6/12/18 (12/24/36 at OS 8) and an image-pooling branch,
256 channels each, concatenated and projected by a 1x1 conv + dropout 0.1. Decoder: stride-4
backbone features reduced to 48 channels by a 1x1 conv, concatenated with the ASPP output
upsampled to their size, two 3x3 convs (256), a 1x1 classifier, bilinear upsampling to the input
size (x4). In DeepLab v3+ every 3x3 conv of ASPP and decoder is depthwise-separable.

Export notes: image pooling is ``x.mean((2, 3), keepdim=True)`` resized to the feature's runtime
size (ReduceMean + Resize in ONNX; no Python ints from tensors). That branch has a 1x1 conv *with
bias* and ReLU, no BatchNorm: BN over a 1x1 map sees only N values per channel, which raises for a
batch of 1 in training and is noisy for small batches.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from edgeseg.models._blocks import ConvBNAct, SeparableConv, resize_to
from edgeseg.models.mobilenetv2 import MobileNetV2
from edgeseg.models.xception import AlignedXception

ASPP_RATES = {16: (6, 12, 18), 8: (12, 24, 36)}


def aspp_rates(output_stride: int) -> tuple[int, int, int]:
    """The paper's ASPP rates: (6, 12, 18) at output stride 16, doubled at 8."""
    if output_stride not in ASPP_RATES:
        raise ValueError(f"ASPP is defined for output stride 8 or 16, found {output_stride}")
    return ASPP_RATES[output_stride]


class ImagePooling(nn.Module):
    """Global average pooling -> 1x1 conv (bias) -> ReLU -> resize back to the feature's size."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.conv(x.mean((2, 3), keepdim=True)))
        return resize_to(y, x.shape[2:])


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling. Defaults: 256 channels, dropout 0.1 after the projection,
    depthwise-separable atrous branches (``separable=False`` gives DeepLab v3's full 3x3 convs)."""

    def __init__(
        self,
        cin: int,
        *,
        rates: tuple[int, ...] = (6, 12, 18),
        channels: int = 256,
        separable: bool = True,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        branches: list[nn.Module] = [ConvBNAct(cin, channels, 1)]
        for r in rates:
            if separable:
                branches.append(SeparableConv(cin, channels, dilation=r))
            else:
                branches.append(ConvBNAct(cin, channels, 3, dilation=r))
        branches.append(ImagePooling(cin, channels))
        self.branches = nn.ModuleList(branches)
        self.rates = tuple(rates)
        self.project = nn.Sequential(ConvBNAct(channels * len(branches), channels, 1), nn.Dropout(dropout))
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([b(x) for b in self.branches], 1))


class Decoder(nn.Module):
    """Low-level 1x1 to 48 channels, concat with upsampled ASPP output, two separable 3x3 (256), 1x1
    classifier."""

    def __init__(
        self,
        low_channels: int,
        aspp_channels: int,
        num_classes: int,
        *,
        low_reduced: int = 48,
        channels: int = 256,
    ) -> None:
        super().__init__()
        self.reduce = ConvBNAct(low_channels, low_reduced, 1)
        self.fuse = nn.Sequential(
            SeparableConv(aspp_channels + low_reduced, channels),
            SeparableConv(channels, channels),
        )
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        low = self.reduce(low)
        x = torch.cat([resize_to(high, low.shape[2:]), low], 1)
        return self.classifier(self.fuse(x))


class DeepLabV3Plus(nn.Module):
    """A backbone returning ``(low, high)`` (with ``low_channels``, ``out_channels``, ``output_stride``),
    separable ASPP and the decoder; logits at the input's height and width."""

    def __init__(self, backbone: nn.Module, *, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.aspp = ASPP(backbone.out_channels, rates=aspp_rates(backbone.output_stride))
        self.decoder = Decoder(backbone.low_channels, self.aspp.out_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return resize_to(self.forward_lowres(x), x.shape[2:])

    def forward_lowres(self, x: torch.Tensor) -> torch.Tensor:
        """The logits at the decoder's resolution (1/4 of the input), before the final bilinear resize."""
        low, high = self.backbone(x)
        return self.decoder(low, self.aspp(high))


def deeplabv3plus_mobilenetv2(
    *, num_classes: int = 19, output_stride: int = 16, width: float = 1.0
) -> DeepLabV3Plus:
    """DeepLab v3+ on MobileNetV2; defaults output stride 16 (ASPP rates 6/12/18; 8 gives 12/24/36), width
    1.0.

    Every conv beyond the stem with a kernel larger than 1x1 is depthwise (separable)."""
    return DeepLabV3Plus(MobileNetV2(width=width, output_stride=output_stride), num_classes=num_classes)


def deeplabv3plus_xception(*, num_classes: int = 19, output_stride: int = 16) -> DeepLabV3Plus:
    """DeepLab v3+ on the modified aligned Xception-65; defaults output stride 16 (8 also accepted)."""
    return DeepLabV3Plus(AlignedXception(output_stride=output_stride), num_classes=num_classes)
