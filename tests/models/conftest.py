"""Shared helpers for the model-zoo tests: one cached eval-mode build per model, CamVid card."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from edgeseg.card import ModelCard
from edgeseg.data.datasets import CAMVID
from edgeseg.models import build_model

NUM_CLASSES = CAMVID.num_classes  # 11


def randomize_norm_stats(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics/affines so eval-mode parity checks see real values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.rand(n, generator=g) - 0.5)
    return model


@pytest.fixture(scope="session")
def eval_model():
    """``eval_model(name)`` -> a cached eval-mode model with 11 classes and randomized BN stats."""
    cache: dict[str, nn.Module] = {}

    def get(name: str) -> nn.Module:
        if name not in cache:
            torch.manual_seed(0)
            cache[name] = randomize_norm_stats(build_model(name, num_classes=NUM_CLASSES)).eval()
        return cache[name]

    return get


@pytest.fixture(scope="session")
def camvid_card():
    """``camvid_card(arch)`` -> a ModelCard with CamVid's 11 classes, ignore id 11, input 64x96."""

    def make(arch: str) -> ModelCard:
        return ModelCard(
            arch=arch,
            num_classes=CAMVID.num_classes,
            class_names=CAMVID.class_names,
            palette=CAMVID.palette,
            ignore_index=CAMVID.ignore_index,
            input_size=(64, 96),
        )

    return make


@pytest.fixture(scope="session")
def onnx_parity():
    """``onnx_parity(model, path, size)`` -> max |onnxruntime - torch| on a seeded random input."""
    import numpy as np
    import onnxruntime as ort

    def check(model: nn.Module, path, size: tuple[int, int], batch: int = 1) -> float:
        x = torch.randn(batch, 3, *size, generator=torch.Generator().manual_seed(1))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        (got,) = sess.run(None, {"input": x.numpy()})
        with torch.no_grad():
            want = model(x).numpy()
        assert got.shape == want.shape, (got.shape, want.shape)
        assert np.isfinite(got).all()
        return float(np.abs(got - want).max())

    return check


@pytest.fixture(autouse=True)
def _one_intra_op_thread():
    """One torch thread in these tests: on a busy 2-core machine, 2 OpenMP threads competing with
    other processes made the training-step tests ~30x slower (measured 32 s vs 1 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
