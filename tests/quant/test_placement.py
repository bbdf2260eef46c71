"""Fake quantizers and Q/DQ placement over the model registry."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from edgeseg.errors import QuantizationError
from edgeseg.quant.fakequant import (
    AMAX_FLOOR,
    QuantConv2d,
    TensorQuantizer,
    activation_quantizers,
    fake_quant_per_channel,
    fake_quant_per_tensor,
    quantizers,
    set_mode,
)
from edgeseg.quant.placement import float_state_dict, prepare


def test_fake_quant_is_symmetric_int8():
    x = torch.linspace(-3, 3, 1001)
    y = fake_quant_per_tensor(x, torch.tensor(2.0))
    step = 2.0 / 127
    assert torch.allclose(y / step, (y / step).round(), atol=1e-4)  # on the grid
    assert y.max() == pytest.approx(2.0) and y.min() == pytest.approx(-128 * step)  # [-128, 127] * scale
    assert (y - x)[x.abs() < 1.9].abs().max() <= step / 2 + 1e-6
    w = torch.randn(4, 3, 3, 3)
    amax = w.abs().amax((1, 2, 3))
    wq = fake_quant_per_channel(w, amax, 0)
    for c in range(4):
        assert (wq[c] - w[c]).abs().max() <= amax[c] / 127 / 2 + 1e-6


def test_quantizer_modes_and_uncalibrated_error():
    q = TensorQuantizer(where="input of conv1")
    x = torch.randn(10)
    q.mode = "off"
    assert torch.equal(q(x), x)
    q.mode = "quant"
    with pytest.raises(QuantizationError, match="input of conv1.*calibrate first"):
        q(x)
    q.set_amax(0.0)
    assert float(q.amax) == pytest.approx(AMAX_FLOOR)  # never a zero scale


def test_straight_through_gradient():
    conv = QuantConv2d.from_float(nn.Conv2d(3, 4, 3), name="c")
    x = torch.randn(1, 3, 8, 8, requires_grad=True)
    conv(x).sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0 and x.grad.abs().sum() > 0


def _randomize_bn(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5, generator=g)
            m.running_var.uniform_(0.5, 2.0, generator=g)
            m.weight.data.uniform_(0.5, 1.5, generator=g)
            m.bias.data.uniform_(-0.2, 0.2, generator=g)


def _check_model(name: str, kw: dict, size=(64, 96)):
    from edgeseg.models import build_model

    torch.manual_seed(0)
    model = build_model(name, num_classes=11, **kw).eval()
    _randomize_bn(model)
    qmodel, info = prepare(model)
    assert info.folded and info.weighted and info.input_quantizers
    assert not quantizers(model), "prepare must not change the input model"
    set_mode(qmodel, "off")  # weight quantizers stay on; compare against float with the activations untouched
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        ref, got = model(x), qmodel(x)
    assert got.shape == ref.shape
    for m in qmodel.modules():  # every conv quantizes its weight
        assert type(m) not in (nn.Conv2d, nn.ConvTranspose2d, nn.Linear), f"unquantized {type(m).__name__}"
    # weights-only INT8 error stays small relative to the logits
    assert float((got - ref).norm() / ref.norm()) < 0.05
    return model, qmodel, info


def test_cgnet_placement():
    model, qmodel, info = _check_model("cgnet", {"m": 2, "n": 3})
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    assert sorted(info.weighted) == sorted(convs)  # every conv (incl. depthwise and FGlo's 1x1 FCs)
    bns = [n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    folded_bns = {bn for _, bn, _, _ in info.folded}
    assert len(bns) == 16 and len(folded_bns) == 13  # conv-BN and concat(F_loc, F_sur)-BN folded
    assert sorted(set(bns) - folded_bns) == [
        "bn_prelu1.0",
        "bn_prelu2.0",
        "bn_prelu3.0",
    ]  # concat with the image
    assert ("stage2.0.f_sur", "stage2.0.bn_prelu.0", 32, 64) in info.folded
    # F_loc and F_sur read the same tensor: one shared quantizer, one scale
    assert "stage2_down.f_loc.input_quantizer" in info.input_quantizers
    assert "stage2_down.f_sur.input_quantizer" not in info.input_quantizers
    assert "f_sur" in activation_quantizers(qmodel)["stage2_down.f_loc.input_quantizer"].where
    assert info.residual_quantizers == []  # CGNet's residual adds read FGlo's Mul, not a conv


def test_mobilenet_residuals_quantized():
    _, qmodel, info = _check_model("deeplabv3plus_mobilenetv2", {"width": 0.35})
    # the identity branch of an inverted residual is quantized (shared with the next block's input conv
    # where it feeds one, else its own residual quantizer)
    where = " | ".join(q.where for q in activation_quantizers(qmodel).values())
    assert where.count("residual of backbone.features") >= 5


def test_float_state_dict_roundtrip():
    """The QAT checkpoint layout: folded weights + identity BN load into the float arch and compute the
    same."""
    from edgeseg.models import build_model

    model, qmodel, info = _check_model("cgnet", {"m": 2, "n": 3})
    with torch.no_grad():
        for m in qmodel.modules():
            if isinstance(m, QuantConv2d):
                m.weight.mul_(1.01)  # as if fine-tuned
    fresh = build_model("cgnet", num_classes=11, m=2, n=3).eval()
    fresh.load_state_dict(float_state_dict(qmodel, fresh, info))
    x = torch.randn(1, 3, 64, 96)
    for q in quantizers(qmodel).values():
        q.mode = "off"
    qmodel_f = qmodel
    for m in qmodel_f.modules():
        if isinstance(m, QuantConv2d):
            m.weight_quantizer.mode = "off"
    with torch.no_grad():
        assert torch.allclose(fresh(x), qmodel_f(x), rtol=1e-4, atol=1e-5)


def test_already_quantized_refused():
    from edgeseg.models import build_model

    qmodel, _ = prepare(build_model("cgnet", num_classes=11, m=2, n=3))
    with pytest.raises(QuantizationError, match="already has quantizers"):
        prepare(qmodel)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,kw",
    [
        ("deeplabv3plus_xception", {}),
        ("fcn", {}),
        ("deeplabv3", {}),
        ("pspnet", {}),
        ("deeplabv3plus_mobilenetv2", {}),
    ],
)
def test_registry_placement(name, kw):
    _check_model(name, kw)


def test_registry_is_covered():
    from edgeseg.models import MODELS

    covered = {"cgnet", "deeplabv3plus_mobilenetv2", "deeplabv3plus_xception", "fcn", "deeplabv3", "pspnet"}
    assert set(MODELS) <= covered, f"new models need a placement test: {set(MODELS) - covered}"
