"""Classic segmentation heads as reference points for the params-vs-mIoU chart: FCN, DeepLab v3, PSPNet.

All three sit on ONE shared backbone, a MobileNetV2 (width 1.0) dilated to output stride 8, so the
chart compares heads, not backbones (``deeplabv3plus_mobilenetv2`` uses the same backbone at OS 16).

- ``fcn``: FCNHead (Long et al. 2015, as in torchvision): 3x3 conv to in/4 channels, dropout 0.1, 1x1.
- ``deeplabv3``: DeepLab v3 (Chen et al. 2017): ASPP with full 3x3 atrous convs (rates 12/24/36 at
  OS 8, 6/12/18 at OS 16) + image pooling, 256 channels, then 3x3 conv and 1x1 classifier; no decoder.
- ``pspnet``: pyramid pooling module (Zhao et al. 2017) with bins 1/2/3/6, each a 1x1 conv to in/4
  channels, upsampled and concatenated with the features, then 3x3 conv (256), dropout 0.1, 1x1.

PSP pooling and ONNX: ``F.adaptive_avg_pool2d`` to a bin count that does not divide the feature size
has overlapping, unequal windows and does not export with the TorchScript exporter (and where it
does divide, it exports as an AveragePool whose kernel is frozen at the traced size, which silently
pools to the wrong grid at any other size). So while exporting (``torch.onnx.is_in_onnx_export()``)
every bin > 1 is computed exactly as two MatMuls with averaging matrices built from the static
feature size at trace time (the same windows as adaptive pooling; equal to float rounding). Those
matrices are constants: a PSPNet ONNX exported with dynamic height/width runs only at the traced
size, and other sizes fail in MatMul, loudly rather than silently. In eager mode (training, PyTorch
inference) ``F.adaptive_avg_pool2d`` is used.
The 1x1-bin branch has a conv with bias and no BatchNorm (see ``deeplabv3plus.ImagePooling``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from edgeseg.models._blocks import ConvBNAct, resize_to
from edgeseg.models.deeplabv3plus import ASPP, aspp_rates
from edgeseg.models.mobilenetv2 import MobileNetV2

PSP_BINS = (1, 2, 3, 6)


def _shared_backbone(output_stride: int) -> MobileNetV2:
    """The classics' backbone: MobileNetV2 width 1.0, dilated to ``output_stride``."""
    return MobileNetV2(width=1.0, output_stride=output_stride)


def adaptive_pool_matrix(size: int, bins: int) -> np.ndarray:
    """(bins, size) averaging matrix with adaptive pooling's windows [floor(i*n/b), ceil((i+1)*n/b))."""
    m = np.zeros((bins, size), dtype=np.float32)
    for i in range(bins):
        start, end = (i * size) // bins, -((-(i + 1) * size) // bins)
        m[i, start:end] = 1.0 / (end - start)
    return m


def adaptive_avg_pool2d_exportable(x: torch.Tensor, bins: int) -> torch.Tensor:
    """``F.adaptive_avg_pool2d(x, bins)``; while exporting to ONNX, two MatMuls with constant averaging
    matrices."""
    if not torch.onnx.is_in_onnx_export():
        return F.adaptive_avg_pool2d(x, bins)
    h, w = int(x.shape[2]), int(x.shape[3])  # static at trace time, on purpose (see the module docstring)
    ph = torch.from_numpy(adaptive_pool_matrix(h, bins)).to(x)  # (b, H)
    pw = torch.from_numpy(adaptive_pool_matrix(w, bins).T.copy()).to(x)  # (W, b)
    return torch.matmul(torch.matmul(ph, x), pw)


class _SimpleSegmentationModel(nn.Module):
    """Backbone ``(low, high)`` -> head on ``high`` -> bilinear resize to the input's size."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return resize_to(self.forward_lowres(x), x.shape[2:])

    def forward_lowres(self, x: torch.Tensor) -> torch.Tensor:
        """The logits at the backbone's output stride, before the final bilinear resize."""
        _, high = self.backbone(x)
        return self.head(high)


class FCNHead(nn.Sequential):
    """3x3 conv-BN-ReLU to ``cin // 4`` channels, dropout 0.1, 1x1 classifier."""

    def __init__(self, cin: int, num_classes: int) -> None:
        inter = cin // 4
        super().__init__(ConvBNAct(cin, inter, 3), nn.Dropout(0.1), nn.Conv2d(inter, num_classes, 1))


class DeepLabHead(nn.Sequential):
    """ASPP (full 3x3 atrous convs, 256 channels) -> 3x3 conv-BN-ReLU -> 1x1 classifier."""

    def __init__(self, cin: int, num_classes: int, *, rates: tuple[int, ...]) -> None:
        super().__init__(
            ASPP(cin, rates=rates, channels=256, separable=False),
            ConvBNAct(256, 256, 3),
            nn.Conv2d(256, num_classes, 1),
        )


class PyramidPooling(nn.Module):
    """Pool to each bin count, 1x1 conv to ``cin // len(bins)``, upsample, concat with the input."""

    def __init__(self, cin: int, *, bins: tuple[int, ...] = PSP_BINS) -> None:
        super().__init__()
        inter = cin // len(bins)
        self.bins = tuple(bins)
        self.convs = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(cin, inter, 1), nn.ReLU()) if b == 1 else ConvBNAct(cin, inter, 1)
                for b in bins
            ]
        )
        self.out_channels = cin + inter * len(bins)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[2:]
        pooled = []
        for b, conv in zip(self.bins, self.convs):
            p = x.mean((2, 3), keepdim=True) if b == 1 else adaptive_avg_pool2d_exportable(x, b)
            pooled.append(resize_to(conv(p), size))
        return torch.cat([x, *pooled], 1)


class PSPHead(nn.Sequential):
    """Pyramid pooling (bins 1/2/3/6) -> 3x3 conv-BN-ReLU (256) -> dropout 0.1 -> 1x1 classifier."""

    def __init__(self, cin: int, num_classes: int, *, bins: tuple[int, ...] = PSP_BINS) -> None:
        ppm = PyramidPooling(cin, bins=bins)
        super().__init__(
            ppm, ConvBNAct(ppm.out_channels, 256, 3), nn.Dropout(0.1), nn.Conv2d(256, num_classes, 1)
        )


def fcn(*, num_classes: int = 19, output_stride: int = 8) -> _SimpleSegmentationModel:
    """FCN head on the shared MobileNetV2 backbone; default output stride 8."""
    backbone = _shared_backbone(output_stride)
    return _SimpleSegmentationModel(backbone, FCNHead(backbone.out_channels, num_classes))


def deeplabv3(*, num_classes: int = 19, output_stride: int = 8) -> _SimpleSegmentationModel:
    """DeepLab v3 (ASPP + image pooling, no decoder) on the shared backbone; default output stride 8."""
    backbone = _shared_backbone(output_stride)
    head = DeepLabHead(backbone.out_channels, num_classes, rates=aspp_rates(output_stride))
    return _SimpleSegmentationModel(backbone, head)


def pspnet(*, num_classes: int = 19, output_stride: int = 8) -> _SimpleSegmentationModel:
    """PSPNet (pyramid pooling, bins 1/2/3/6) on the shared backbone; default output stride 8."""
    backbone = _shared_backbone(output_stride)
    return _SimpleSegmentationModel(backbone, PSPHead(backbone.out_channels, num_classes))
