"""Fixtures for build tests (imported by tests/backends/conftest.py): a tiny CGNet checkpoint + ONNX
exports, a tiny Q/DQ ONNX, the FAKE TensorRT/pycuda modules (call-sequence tests only), and a test
double for the calibration set."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from _build_helpers import SIZE, FakeTRT, ListCalibSet, make_qdq_onnx, random_frames


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """A tiny CGNet (m=2, n=3) checkpoint with a CamVid card, and its ONNX exports at 64x96
    (static; dynamic batch/height/width). The ONNX card names the checkpoint as its source."""
    import torch

    from edgeseg.card import ModelCard
    from edgeseg.data.datasets import CAMVID
    from edgeseg.export.onnx import export_onnx
    from edgeseg.models import build_model
    from edgeseg.train.checkpoint import checkpoint_source, save_checkpoint

    root = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    model = build_model("cgnet", num_classes=11, m=2, n=3).eval()
    card = ModelCard(
        arch="cgnet",
        arch_args={"m": 2, "n": 3},
        num_classes=11,
        class_names=CAMVID.class_names,
        palette=CAMVID.palette,
        ignore_index=CAMVID.ignore_index,
        input_size=SIZE,
    )
    pt = save_checkpoint(root / "tiny.pt", model=model, card=card)
    onnx_card = card.replace(source=checkpoint_source(pt))
    onnx_static = export_onnx(model, onnx_card, root / "tiny.onnx", size=SIZE)
    onnx_dynamic = export_onnx(model, onnx_card, root / "tiny_dyn.onnx", size=SIZE, dynamic=True)
    return SimpleNamespace(root=root, pt=pt, onnx=onnx_static, onnx_dyn=onnx_dynamic, card=card, model=model)


@pytest.fixture
def qdq_onnx(tmp_path, tiny_models) -> Path:
    return make_qdq_onnx(tmp_path / "tiny_qdq.onnx", tiny_models.card)


@pytest.fixture
def fake_trt(monkeypatch) -> FakeTRT:
    return FakeTRT(monkeypatch)


@pytest.fixture
def stub_calib(monkeypatch):
    """Make builds open a ListCalibSet of 5 random frames for any --calib source; returns the list of
    sets opened (tests inspect them). ``stub_calib.tag`` changes the fingerprint."""
    opened: list[ListCalibSet] = []
    state = SimpleNamespace(tag="A", n=5, opened=opened)

    def fake_open(source, card, *, num, batch, size):
        cs = ListCalibSet(random_frames(state.n), card, batch=batch, size=size, tag=state.tag)
        opened.append(cs)
        return cs

    import edgeseg.backends._calib_set as calib_set_mod

    monkeypatch.setattr(calib_set_mod, "open_calib_set", fake_open)
    return state
