"""Fixtures for the quantization tests: one tiny CGNet (M=2, N=3) trained for a few seconds on
synthetic 64x96 scenes (a random-init net has vanishing activations and is no test of INT8
accuracy), saved once per session, plus a folder of calibration PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SIZE = (64, 96)
STEPS = 30


def tiny_card(**kw):
    from edgeseg.card import ModelCard
    from edgeseg.data.datasets import CAMVID

    return ModelCard(
        arch="cgnet",
        arch_args={"m": 2, "n": 3},
        num_classes=11,
        class_names=CAMVID.class_names,
        palette=CAMVID.palette,
        ignore_index=CAMVID.ignore_index,
        input_size=SIZE,
        **kw,
    )


def synthetic_batch(n: int = 16, seed: int = 0):
    from edgeseg.data.synthetic import SyntheticScenes

    ds = SyntheticScenes(num_images=n, size=SIZE, seed=seed)
    items = [ds[i] for i in range(n)]
    return [a for a, _ in items], np.stack([b for _, b in items])


@pytest.fixture(scope="session")
def trained_ckpt(tmp_path_factory) -> Path:
    """A tiny CGNet trained 30 Adam steps (lr 5e-3, batch 4) on 16 synthetic scenes, ~80% pixel accuracy."""
    import torch
    import torch.nn.functional as F

    from edgeseg.data.preprocess import preprocess
    from edgeseg.models import build_model
    from edgeseg.train.checkpoint import save_checkpoint

    card = tiny_card()
    imgs, labels = synthetic_batch(16, seed=0)
    x = torch.from_numpy(preprocess(imgs, card))
    y = torch.from_numpy(labels.astype(np.int64))
    torch.manual_seed(0)
    model = build_model("cgnet", num_classes=11, m=2, n=3)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    g = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(STEPS):
        idx = torch.randint(0, len(x), (4,), generator=g)
        loss = F.cross_entropy(model(x[idx]), y[idx], ignore_index=card.ignore_index)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    path = tmp_path_factory.mktemp("quant_ckpt") / "tiny.pt"
    return save_checkpoint(path, model=model, card=card, epoch=1)


@pytest.fixture(scope="session")
def calib_dir(tmp_path_factory) -> Path:
    """8 synthetic PNG frames at the model size (another seed than the training scenes)."""
    import cv2

    d = tmp_path_factory.mktemp("calib")
    imgs, _ = synthetic_batch(8, seed=5)
    for i, img in enumerate(imgs):
        cv2.imwrite(str(d / f"c{i:02d}.png"), img)
    return d


@pytest.fixture(scope="session")
def val_batch():
    """(NCHW float batch, labels) of 6 held-out synthetic scenes."""
    from edgeseg.data.preprocess import preprocess

    imgs, labels = synthetic_batch(6, seed=9)
    return preprocess(imgs, tiny_card()), labels


@pytest.fixture(scope="session")
def assert_same_int8_numerics():
    """Same INT8 model on two backends (PyTorch fake quant, ONNX Runtime): equal up to a few
    rounding-boundary flips, see tests/quant/test_ptq_export.py. Argmax >= 99%, relative L2 <= 2%."""

    def check(got: np.ndarray, ref: np.ndarray) -> None:
        assert got.shape == ref.shape
        agree = float((got.argmax(1) == ref.argmax(1)).mean())
        rel = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
        assert agree >= 0.99 and rel <= 0.02, (agree, rel)

    return check


@pytest.fixture
def bad_cost_dir(tmp_path) -> Path:
    """A folder of bad ``--layer-cost`` files: broken.json (not JSON), other.json (another kind of
    record), nan.json (a layer-cost record with a NaN cost) and dir.json (a folder)."""
    import json

    d = tmp_path / "c"
    d.mkdir()
    (d / "broken.json").write_text("{", encoding="utf-8")
    (d / "other.json").write_text(json.dumps({"kind": "results"}), encoding="utf-8")
    rec = {"kind": "edgeseg.layer_cost", "source": "openvino", "label": "ms", "costs": {"a": float("nan")}}
    (d / "nan.json").write_text(json.dumps(rec), encoding="utf-8")
    (d / "dir.json").mkdir()
    return d
