"""Test media helpers: road-scene-like frames, writing a clip with cv2.VideoWriter, reading one back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SIZE = (64, 96)
N_FRAMES = 12


def scene(i: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    """A road-scene-like BGR frame: sky, buildings, road and a car that moves with ``i``."""
    from edgeseg.data.datasets import CAMVID_PALETTE

    h, w = size
    lab = np.zeros((h, w), np.uint8)
    lab[h // 3 :] = 1
    lab[2 * h // 3 :] = 3
    x0 = (5 * i) % (w - w // 4)
    lab[h // 2 : h - 4, x0 : x0 + w // 4] = 8
    img = np.array([c[::-1] for c in CAMVID_PALETTE], np.uint8)[lab]
    rng = np.random.default_rng(i)
    return np.clip(img.astype(np.int16) + rng.integers(-25, 25, img.shape), 0, 255).astype(np.uint8)


def write_clip(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    import cv2

    fourcc = {".avi": "MJPG", ".mp4": "mp4v"}[path.suffix]
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    if not writer.isOpened():
        pytest.skip(f"this OpenCV cannot write {fourcc} {path.suffix} files")
    for f in frames:
        writer.write(f)
    writer.release()
    return path


def read_all(path: Path) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        out.append(f)
    cap.release()
    return out
