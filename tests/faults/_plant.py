"""Helpers that build tiny good artifacts and plant faults in them (loaded by conftest.py)."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def write_pairs(root: Path, n: int = 3, size: tuple[int, int] = (48, 64), split: str = "val", seed: int = 0) -> Path:
    """Write ``n`` image/label pairs in CamVid layout (``split``/, ``split``annot/, ``split``.txt)."""
    import cv2

    from edgeseg.data.datasets import CAMVID_PALETTE

    rng = np.random.default_rng(seed)
    (root / split).mkdir(parents=True, exist_ok=True)
    (root / f"{split}annot").mkdir(parents=True, exist_ok=True)
    lines = []
    h, w = size
    for i in range(n):
        lab = np.zeros((h, w), np.uint8)
        lab[h // 3 :] = 1
        lab[2 * h // 3 :] = 3
        x0 = int(rng.integers(0, w // 2))
        lab[h // 2 : h - 2, x0 : x0 + w // 4] = 8
        lab[0, 0] = 11
        img = np.array([CAMVID_PALETTE[c][::-1] if c < 11 else (0, 0, 0) for c in range(12)], np.uint8)[lab]
        name = f"f{i:03d}.png"
        cv2.imwrite(str(root / split / name), img)
        cv2.imwrite(str(root / f"{split}annot" / name), lab)
        lines.append(f"{split}/{name} {split}annot/{name}")
    (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def png_header_only(path: Path, w: int, h: int) -> Path:
    """A PNG whose header claims ``w`` x ``h`` pixels but holds no image data."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IEND", b""))
    return path


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


def build_artifacts(root: Path) -> Artifacts:
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
