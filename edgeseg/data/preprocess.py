"""The one preprocessing path, driven by the model card. Every runner and the camera use it."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edgeseg.card import ModelCard


def _scale_shift(card: ModelCard) -> tuple[np.ndarray, np.ndarray]:
    mean = np.asarray(card.mean, np.float32)
    std = np.asarray(card.std, np.float32)
    return (1.0 / std).astype(np.float32), (-mean / std).astype(np.float32)


def normalize(img_bgr: np.ndarray, card: ModelCard) -> np.ndarray:
    """HxWx3 uint8 BGR -> 3xHxW float32, channel order and mean/std from the card."""
    if img_bgr.ndim != 3 or img_bgr.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 BGR image, found shape {img_bgr.shape}")
    img = img_bgr[..., ::-1] if card.channel_order == "RGB" else img_bgr
    scale, shift = _scale_shift(card)
    out = img.astype(np.float32) * scale + shift
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def preprocess(
    frames_bgr: np.ndarray | Sequence[np.ndarray],
    card: ModelCard,
    *,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Frames (HxWx3 uint8 BGR, one or a list) -> NCHW float32 batch.

    Each frame is resized (bilinear, once) to ``size`` (H, W) when given; ``size=None`` keeps
    the frame size. Use ``card.input_size`` for fixed-shape artifacts.
    """
    import cv2

    if isinstance(frames_bgr, np.ndarray) and frames_bgr.ndim == 3:
        frames_bgr = [frames_bgr]
    out = []
    for f in frames_bgr:
        if size is not None and f.shape[:2] != tuple(size):
            f = cv2.resize(f, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        out.append(normalize(f, card))
    return np.stack(out, 0)
