"""Camera-test fixtures: a tiny CGNet checkpoint with a CamVid card (64x96), its runner, and a
short synthetic video written with cv2.VideoWriter."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pytest 9 does not add a conftest's folder

from camera_media import N_FRAMES, SIZE, scene, write_clip  # noqa: E402


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    import torch

    from edgeseg.card import ModelCard
    from edgeseg.data.datasets import CAMVID
    from edgeseg.models import build_model
    from edgeseg.train.checkpoint import save_checkpoint

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
    return save_checkpoint(tmp_path_factory.mktemp("camera_model") / "tiny.pt", model=model, card=card)


@pytest.fixture(scope="session")
def runner(tiny_checkpoint):
    from edgeseg.backends import open_runner

    with open_runner(tiny_checkpoint, threads=1) as r:
        yield r


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    """12 frames of 64x96 in an MP4 (mp4v)."""
    return write_clip(
        tmp_path_factory.mktemp("camera_clip") / "clip.mp4", [scene(i) for i in range(N_FRAMES)]
    )
