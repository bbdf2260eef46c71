"""CGNet (Wu et al., "CGNet: A Light-weight Context Guided Network for Semantic Segmentation", TIP 2020).

Layer-for-layer as the authors' released code (M=3, N=21): 494,258 parameters for 11 classes,
496,306 for 19. Two export-friendly differences that keep the parameter count and the function:
FGlo's fully connected layers are 1x1 convolutions on the pooled tensor (no ``view(b, c)`` from
runtime sizes), and the output is resized to the input's size (exactly x8 when divisible).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from edgeseg.models._blocks import resize_to


class ConvBNPReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride=stride, padding=(kernel - 1) // 2, bias=False),
            nn.BatchNorm2d(cout, eps=1e-3),
            nn.PReLU(cout),
        )


class BNPReLU(nn.Sequential):
    def __init__(self, channels: int) -> None:
        super().__init__(nn.BatchNorm2d(channels, eps=1e-3), nn.PReLU(channels))


def channel_wise(channels: int, dilation: int = 1) -> nn.Conv2d:
    """Depthwise 3x3 (optionally dilated) convolution without bias: F_loc / F_sur."""
    return nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, groups=channels, bias=False)


class FGlo(nn.Module):
    """Global context: GAP -> FC -> ReLU -> FC -> sigmoid, reweights channels. FCs as 1x1 convs."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = channels // reduction
        self.fc = nn.Sequential(
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean((2, 3), keepdim=True))


class CGBlockDown(nn.Module):
    """Down-sampling CG block: 3x3 stride-2 conv to ``cout``, F_loc + F_sur, BN-PReLU, 1x1 reduce, FGlo."""

    def __init__(self, cin: int, cout: int, *, dilation: int = 2, reduction: int = 16) -> None:
        super().__init__()
        self.conv = ConvBNPReLU(cin, cout, 3, 2)
        self.f_loc = channel_wise(cout)
        self.f_sur = channel_wise(cout, dilation)
        self.bn_prelu = BNPReLU(2 * cout)
        self.reduce = nn.Conv2d(2 * cout, cout, 1, bias=False)
        self.f_glo = FGlo(cout, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        joint = self.bn_prelu(torch.cat([self.f_loc(x), self.f_sur(x)], 1))
        return self.f_glo(self.reduce(joint))


class CGBlock(nn.Module):
    """CG block: 1x1 reduction to half, F_loc + F_sur, BN-PReLU, FGlo, global residual."""

    def __init__(
        self, channels: int, *, dilation: int = 2, reduction: int = 16, residual: bool = True
    ) -> None:
        super().__init__()
        half = channels // 2
        self.conv = ConvBNPReLU(channels, half, 1)
        self.f_loc = channel_wise(half)
        self.f_sur = channel_wise(half, dilation)
        self.bn_prelu = BNPReLU(channels)
        self.f_glo = FGlo(channels, reduction)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        y = self.f_glo(self.bn_prelu(torch.cat([self.f_loc(y), self.f_sur(y)], 1)))
        return x + y if self.residual else y


class InputInjection(nn.Sequential):
    """``times`` 3x3 average poolings with stride 2: the image at 1/2**times."""

    def __init__(self, times: int) -> None:
        super().__init__(*[nn.AvgPool2d(3, stride=2, padding=1) for _ in range(times)])


class CGNet(nn.Module):
    """Context Guided Network; logits at the input's resolution."""

    def __init__(self, *, num_classes: int = 19, m: int = 3, n: int = 21, dropout: bool = False) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(ConvBNPReLU(3, 32, 3, 2), ConvBNPReLU(32, 32, 3), ConvBNPReLU(32, 32, 3))
        self.inject1 = InputInjection(1)
        self.inject2 = InputInjection(2)
        self.bn_prelu1 = BNPReLU(32 + 3)
        self.stage2_down = CGBlockDown(32 + 3, 64, dilation=2, reduction=8)
        self.stage2 = nn.Sequential(*[CGBlock(64, dilation=2, reduction=8) for _ in range(m - 1)])
        self.bn_prelu2 = BNPReLU(128 + 3)
        self.stage3_down = CGBlockDown(128 + 3, 128, dilation=4, reduction=16)
        self.stage3 = nn.Sequential(*[CGBlock(128, dilation=4, reduction=16) for _ in range(n - 1)])
        self.bn_prelu3 = BNPReLU(256)
        head: list[nn.Module] = [nn.Dropout2d(0.1)] if dropout else []
        self.classifier = nn.Sequential(*head, nn.Conv2d(256, num_classes, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return resize_to(self.forward_lowres(x), x.shape[2:])

    def forward_lowres(self, x: torch.Tensor) -> torch.Tensor:
        """The logits at their own resolution (1/8 of the input), before the final bilinear resize."""
        inp1 = self.inject1(x)
        inp2 = self.inject2(x)
        s1 = self.bn_prelu1(torch.cat([self.stage1(x), inp1], 1))
        d2 = self.stage2_down(s1)
        s2 = self.bn_prelu2(torch.cat([self.stage2(d2), d2, inp2], 1))
        d3 = self.stage3_down(s2)
        s3 = self.bn_prelu3(torch.cat([d3, self.stage3(d3)], 1))
        return self.classifier(s3)


def cgnet(*, num_classes: int = 19, m: int = 3, n: int = 21, dropout: bool = False) -> CGNet:
    """CGNet M=3, N=21 by default (the paper's CamVid/Cityscapes model), no dropout."""
    return CGNet(num_classes=num_classes, m=m, n=n, dropout=dropout)
