"""Frames in, label maps out, through any Runner: preprocess from the card, infer, argmax (none for a
labels head), resize back."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edgeseg.data.preprocess import preprocess
from edgeseg.errors import EdgesegError


def logits_to_labels(logits: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """NCHW logits -> NxHxW uint8 class ids; resized (nearest) to ``size`` (H, W) when it differs.
    A label map from a labels head (N x 1 x H x W, integer: ``edgeseg export --head labels``) is used as
    it is (no arg-max), only resized (nearest)."""
    import cv2

    if logits.dtype.kind in "iub":
        if logits.ndim != 4 or logits.shape[1] != 1:
            raise EdgesegError(
                f"expected float logits (N, C, H, W) or a label map (N, 1, H, W), found {logits.dtype} "
                f"{tuple(logits.shape)}"
            )
        labels = logits[:, 0].astype(np.uint8, copy=False)
    else:
        labels = logits.argmax(1).astype(np.uint8)
    if size is None or labels.shape[1:] == tuple(size):
        return labels
    return np.stack([cv2.resize(l, (size[1], size[0]), interpolation=cv2.INTER_NEAREST) for l in labels])


def segment(runner, frames_bgr: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Label maps (HxW uint8) at each frame's own size. Frames are resized to ``runner.input_size``
    when the artifact has a fixed size, else run at their size (one batch per distinct size)."""
    out: list[np.ndarray] = []
    size = runner.input_size
    if size is not None:
        logits = runner.infer(preprocess(list(frames_bgr), runner.card, size=size))
        return [logits_to_labels(logits[i : i + 1], f.shape[:2])[0] for i, f in enumerate(frames_bgr)]
    for f in frames_bgr:
        logits = runner.infer(preprocess(f, runner.card))
        out.append(logits_to_labels(logits, f.shape[:2])[0])
    return out
