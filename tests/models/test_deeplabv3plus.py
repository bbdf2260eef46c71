"""DeepLab v3+ structure facts that a wrong implementation would break."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from edgeseg.export.onnx import export_onnx
from edgeseg.models import build_model, count_parameters
from edgeseg.models._blocks import ConvBNAct
from edgeseg.models.deeplabv3plus import ImagePooling
from edgeseg.models.mobilenetv2 import MobileNetV2
from edgeseg.models.xception import AlignedXception, XceptionBlock


def _convs(model: nn.Module):
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def _capture(module: nn.Module, store: dict, key: str):
    return module.register_forward_hook(lambda m, i, o: store.__setitem__(key, o))


@pytest.mark.parametrize("os_", [16, 8])
def test_mobilenetv2_variant_is_depthwise_separable_beyond_the_stem(os_):
    model = build_model("deeplabv3plus_mobilenetv2", num_classes=11, output_stride=os_)
    convs = _convs(model)
    stem = model.backbone.features[0][0]
    assert convs[0][1] is stem and stem.kernel_size == (3, 3) and stem.groups == 1
    spatial = [(n, c) for n, c in convs[1:] if c.kernel_size != (1, 1)]
    assert len(spatial) == 17 + 3 + 2  # 17 inverted residuals, 3 ASPP atrous branches, 2 decoder convs
    for name, c in spatial:
        assert c.groups == c.in_channels == c.out_channels, f"{name} is a full {c.kernel_size} conv"
    # each depthwise conv in ASPP and decoder is followed by its pointwise half
    for sep in [*model.aspp.branches[1:4], *model.decoder.fuse]:
        dw, pw = sep[0][0], sep[1][0]
        assert dw.groups == dw.in_channels and pw.kernel_size == (1, 1) and pw.in_channels == dw.out_channels


@pytest.mark.parametrize(("os_", "rates"), [(16, (6, 12, 18)), (8, (12, 24, 36))])
def test_aspp_rates_follow_output_stride(os_, rates):
    model = build_model("deeplabv3plus_mobilenetv2", num_classes=11, output_stride=os_)
    dilations = tuple(b[0][0].dilation[0] for b in model.aspp.branches[1:4])
    assert dilations == rates
    assert isinstance(model.aspp.branches[0], ConvBNAct) and model.aspp.branches[0][0].kernel_size == (1, 1)
    assert isinstance(model.aspp.branches[4], ImagePooling)
    assert all(b(torch.zeros(1, 320, 5, 7)).shape[1] == 256 for b in model.aspp.eval().branches)
    drop = model.aspp.project[1]
    assert isinstance(drop, nn.Dropout) and drop.p == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("name", "low_channels"), [("deeplabv3plus_mobilenetv2", 24), ("deeplabv3plus_xception", 128)]
)
def test_decoder_takes_stride4_features_reduced_to_48(name, low_channels, eval_model):
    model = eval_model(name)
    seen: dict = {}
    hooks = [_capture(model.decoder.reduce, seen, "low48"), _capture(model.aspp, seen, "aspp")]
    try:
        with torch.no_grad():
            model(torch.randn(1, 3, 65, 97))
    finally:
        for h in hooks:
            h.remove()
    assert model.decoder.reduce[0].in_channels == low_channels
    assert seen["low48"].shape == (1, 48, 17, 25)  # ceil(65/4), ceil(97/4)
    assert seen["aspp"].shape == (1, 256, 5, 7)  # output stride 16
    assert model.decoder.fuse[0][0][0].in_channels == 256 + 48


def test_output_stride_8_variant_keeps_the_input_resolution():
    model = build_model("deeplabv3plus_mobilenetv2", num_classes=5, output_stride=8).eval()
    seen: dict = {}
    h = _capture(model.aspp, seen, "aspp")
    with torch.no_grad():
        y = model(torch.randn(1, 3, 65, 97))
    h.remove()
    assert y.shape == (1, 5, 65, 97)
    assert seen["aspp"].shape[2:] == (9, 13)  # ceil(65/8), ceil(97/8)
    # the OS8 network has the same weights as OS16, only dilations differ
    os16 = build_model("deeplabv3plus_mobilenetv2", num_classes=5)
    assert count_parameters(model) == count_parameters(os16)


def test_mobilenetv2_backbone_matches_the_paper_table():
    # torchvision's mobilenet_v2().features without the final 1x1 conv to 1280 has 1,811,712 parameters
    b = MobileNetV2()
    assert count_parameters(b) == 1_811_712
    assert (b.low_channels, b.out_channels) == (24, 320)
    blocks = list(b.features)[1:]
    assert [blk.conv[-1][0].out_channels for blk in blocks] == [
        16,
        24,
        24,
        32,
        32,
        32,
        64,
        64,
        64,
        64,
        96,
        96,
        96,
        160,
        160,
        160,
        320,
    ]
    with pytest.raises(ValueError, match="output_stride"):
        MobileNetV2(output_stride=4)


def test_xception_flows_and_batchnorm_relu_after_every_depthwise():
    x = AlignedXception()
    assert len(x.middle) == 16 and all(isinstance(b, XceptionBlock) for b in x.middle)
    assert [m[1][0].out_channels for m in list(x.exit)[1:]] == [1536, 1536, 2048]
    assert [b.units[-1][1][0].out_channels for b in [x.entry1, *x.entry2]] == [128, 256, 728]
    depthwise = [m for m in x.modules() if isinstance(m, ConvBNAct) and m[0].groups > 1]
    assert len(depthwise) == 3 * 3 + 16 * 3 + 3 + 3  # entry, middle, exit block, exit convs
    for m in depthwise:
        assert isinstance(m[1], nn.BatchNorm2d) and isinstance(m[2], nn.ReLU)
    strided = [m[0] for m in depthwise if m[0].stride != (1, 1)]
    assert len(strided) == 3  # max pooling replaced by strided separable convs in the entry flow
    assert not any(isinstance(m, nn.MaxPool2d) for m in x.modules())


def test_xception_variant_size_is_in_the_expected_range():
    n = count_parameters(build_model("deeplabv3plus_xception", num_classes=11))
    assert 40e6 < n < 55e6


def test_image_pooling_follows_the_runtime_size_in_a_dynamic_export(
    eval_model, camvid_card, onnx_parity, tmp_path
):
    # exported at 64x96 with dynamic H/W, run at another size: a pooled branch frozen to the
    # traced size (Python ints, view(b, c)) would fail or differ here
    model = eval_model("deeplabv3plus_mobilenetv2")
    path = export_onnx(
        model, camvid_card("deeplabv3plus_mobilenetv2"), tmp_path / "m.onnx", size=(64, 96), dynamic=True
    )
    assert onnx_parity(model, path, (97, 129), batch=2) < 1e-4
