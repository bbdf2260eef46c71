"""Every model in the MODELS registry: shapes at odd sizes, training step, ONNX parity, builder rules."""

from __future__ import annotations

import inspect

import pytest
import torch

from edgeseg.errors import EdgesegError
from edgeseg.export.onnx import export_onnx
from edgeseg.models import MODELS, _registry, build_model, count_parameters

NAMES = list(MODELS)
ODD = (65, 97)  # odd on both sides: every stride-2 layer rounds up, the head must still land on H x W


@pytest.mark.parametrize("name", NAMES)
def test_forward_odd_size_gives_input_resolution_logits(name, eval_model):
    model = eval_model(name)
    with torch.no_grad():
        y = model(torch.randn(2, 3, *ODD))
    assert y.shape == (2, 11, *ODD)
    assert torch.isfinite(y).all()
    assert y.std() > 0  # not a constant map


@pytest.mark.parametrize("name", NAMES)
def test_training_step_with_batch_one_reaches_every_parameter(name):
    torch.manual_seed(0)
    model = build_model(name, num_classes=3).train()
    y = model(torch.randn(1, 3, 33, 47))  # batch 1: BatchNorm on a pooled 1x1 map would raise here
    assert y.shape == (1, 3, 33, 47)
    y.logsumexp(1).mean().backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert not unused, f"parameters not reached by the forward pass: {unused[:5]}"


@pytest.mark.parametrize("name", NAMES)
def test_onnx_export_matches_torch(name, eval_model, camvid_card, onnx_parity, tmp_path):
    model = eval_model(name)
    path = export_onnx(model, camvid_card(name), tmp_path / f"{name}.onnx", size=(64, 96))
    assert onnx_parity(model, path, (64, 96)) < 1e-4


@pytest.mark.parametrize("name", NAMES)
def test_builder_is_typed_keyword_only_and_documented(name):
    fn = MODELS[name]
    params = list(inspect.signature(fn).parameters.values())
    assert params[0].name == "num_classes"
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params)
    assert all(p.annotation is not inspect.Parameter.empty for p in params)
    assert "default" in (fn.__doc__ or "").lower()
    with pytest.raises(TypeError):
        fn(11)  # positional arguments are refused


def test_cgnet_parameter_counts_match_the_paper_code():
    assert count_parameters(build_model("cgnet", num_classes=11)) == 494_258
    assert count_parameters(build_model("cgnet", num_classes=19)) == 496_306


def test_registry_refuses_duplicates_and_unknown_names():
    with pytest.raises(RuntimeError, match="twice"):
        _registry([("a", MODELS["cgnet"]), ("a", MODELS["fcn"])])
    with pytest.raises(EdgesegError, match="available: .*deeplabv3plus_mobilenetv2"):
        build_model("deeplab_v4", num_classes=11)
    assert NAMES[0] == "cgnet"


def test_parameter_counts_scale_with_classes_only_in_the_classifier():
    # one 1x1 classifier with bias on 256 (DeepLab v3+) channels: +257 parameters per class
    a = count_parameters(build_model("deeplabv3plus_mobilenetv2", num_classes=11))
    b = count_parameters(build_model("deeplabv3plus_mobilenetv2", num_classes=12))
    assert b - a == 257


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_full_size_export_and_odd_full_size_forward(name, eval_model, camvid_card, onnx_parity, tmp_path):
    model = eval_model(name)
    path = export_onnx(model, camvid_card(name), tmp_path / f"{name}.onnx", size=(360, 480))
    assert onnx_parity(model, path, (360, 480)) < 1e-4
    with torch.no_grad():
        assert model(torch.randn(1, 3, 361, 479)).shape == (1, 11, 361, 479)
