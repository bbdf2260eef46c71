"""CGNet's deploy form (edgeseg.models.cgnet_deploy): the same function, the joint BN folded and the joint
PReLU moved into each branch, names kept, the input model untouched, other models passed through."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from edgeseg.models import DEPLOY_FORMS, build_model, deploy_form
from edgeseg.models.cgnet import CGBlock, CGBlockDown


def _trained_like(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random BN statistics and affine terms, random PReLU slopes (some negative): what a fold must get
    right, which the init values (mean 0, var 1, gamma 1, beta 0) would hide."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g))
            m.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.1)
            m.weight.data = torch.randn(n, generator=g)
            m.bias.data = torch.randn(n, generator=g)
        elif isinstance(m, nn.PReLU):
            m.weight.data = torch.randn(m.weight.numel(), generator=g) * 0.5
    return model.eval()


def test_same_function_and_what_changed() -> None:
    model = _trained_like(build_model("cgnet", num_classes=11, m=2, n=3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    deployed, notes = deploy_form("cgnet", model)
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(deployed(x), model(x), atol=1e-4, rtol=1e-4)
    blocks = [m for m in deployed.modules() if isinstance(m, (CGBlock, CGBlockDown))]
    assert len(blocks) == 5 and len(notes) == 1 and notes[0].startswith("5 CG blocks")
    for b in blocks:
        assert isinstance(b.bn_prelu, nn.Identity)
        for branch in (b.f_loc, b.f_sur):
            assert isinstance(branch[0], nn.Conv2d) and branch[0].bias is not None
            assert isinstance(branch[1], nn.PReLU)
    names = {n for n, _ in deployed.named_modules()}
    assert {"stage2.0.f_loc", "stage2.0.f_sur", "stage3_down.f_loc"} <= names  # float-layer names hold
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the input model is not changed
    assert not any(isinstance(m, nn.Identity) for m in model.modules())


def test_stage_bn_prelus_are_left() -> None:
    deployed, _ = deploy_form("cgnet", _trained_like(build_model("cgnet", num_classes=5, m=2, n=2)))
    for name in ("bn_prelu1", "bn_prelu2", "bn_prelu3"):
        assert isinstance(getattr(deployed, name)[0], nn.BatchNorm2d)


@pytest.mark.parametrize("arch", ["fcn", "deeplabv3plus_mobilenetv2"])
def test_other_models_pass_through(arch: str) -> None:
    model = build_model(arch, num_classes=5)
    assert arch not in DEPLOY_FORMS
    out, notes = deploy_form(arch, model)
    assert out is model and notes == []


def test_per_channel_weight_codes_unchanged_by_the_fold() -> None:
    """Symmetric per-channel int8 (amax / 127) is scale-equivariant: the folded depthwise weights give the
    same codes up to each channel's sign, so a QAT checkpoint's int8 weights survive the fold."""
    model = _trained_like(build_model("cgnet", num_classes=11, m=2, n=3), seed=1)
    deployed, _ = deploy_form("cgnet", model)

    def codes(w: torch.Tensor) -> torch.Tensor:
        amax = w.abs().flatten(1).amax(1).view(-1, 1, 1, 1)
        return torch.round(w / (amax / 127))

    src, dst = model.stage2[0], deployed.stage2[0]
    bn = src.bn_prelu[0]
    sign = torch.sign(bn.weight.detach()).view(-1, 1, 1, 1)
    k = src.f_loc.out_channels
    assert torch.equal(codes(dst.f_loc[0].weight.detach()), sign[:k] * codes(src.f_loc.weight.detach()))
    assert torch.equal(codes(dst.f_sur[0].weight.detach()), sign[k:] * codes(src.f_sur.weight.detach()))
