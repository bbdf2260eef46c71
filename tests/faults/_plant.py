"""Helpers that build tiny good artifacts and plant faults in them (loaded by conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


class CarriesCode:
    """Unpickling this runs a shell command: weights_only loading must refuse it."""

    def __reduce__(self):
        import os

        return (os.system, ("true",))


@dataclass(frozen=True)
class Artifacts:
    """Good tiny artifacts shared by all rows (never modified by a row: copy first)."""

    root: Path
    ckpt: Path  # tiny CGNet (m=2, n=3), 11 classes, card input 64x96
    onnx: Path  # its ONNX export, with the card
    camvid: Path  # CamVid-layout folder, val split of 3 pairs 48x64
    image: Path  # one good 48x64 PNG


def tiny_card():
    """The card of the tiny CGNet: 11 CamVid classes, input 64x96."""
    from edgeseg.card import ModelCard
    from edgeseg.data.datasets import CAMVID

    return ModelCard(arch="cgnet", arch_args={"m": 2, "n": 3}, num_classes=11, class_names=CAMVID.class_names,
                     palette=CAMVID.palette, ignore_index=11, input_size=(64, 96))


def build_artifacts(root: Path, *, write_pairs) -> Artifacts:
    """``write_pairs``: the root conftest's CamVid-layout writer (the ``media`` fixture)."""
    import torch

    from edgeseg.export.onnx import export_onnx
    from edgeseg.models import build_model
    from edgeseg.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = build_model("cgnet", num_classes=11, m=2, n=3).eval()
    card = tiny_card()
    ckpt = root / "tiny.pt"
    save_checkpoint(ckpt, model=model, card=card)
    onnx = root / "tiny.onnx"
    export_onnx(model, card, onnx)
    camvid = write_pairs(root / "camvid", 3, split="val")
    return Artifacts(root=root, ckpt=ckpt, onnx=onnx, camvid=camvid, image=camvid / "val" / "f000.png")
