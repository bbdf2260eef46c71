"""Colouring label maps with the card's palette (lookup table, vectorised) and overlays."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np


def palette_lut(palette: Sequence[Sequence[int]], *, classes: Iterable[int] | None = None) -> np.ndarray:
    """256x3 uint8 **BGR** lookup table; ids beyond the palette (ignore) and hidden classes are black."""
    lut = np.zeros((256, 3), np.uint8)
    keep = set(range(len(palette))) if classes is None else set(classes)
    for i, (r, g, b) in enumerate(palette):
        if i in keep:
            lut[i] = (b, g, r)
    return lut


def colorize(label: np.ndarray, palette: Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
    """HxW class ids -> HxWx3 uint8 BGR colour mask. ``palette`` may be a prebuilt LUT."""
    lut = palette if isinstance(palette, np.ndarray) and palette.shape == (256, 3) else palette_lut(palette)
    return lut[label]


def overlay(
    img_bgr: np.ndarray,
    label: np.ndarray,
    palette: Sequence[Sequence[int]] | np.ndarray,
    *,
    alpha: float = 0.5,
    classes: Iterable[int] | None = None,
) -> np.ndarray:
    """Alpha-blend the colour mask over the image (default alpha 0.5). Pixels of hidden classes keep the image."""
    import cv2

    lut = palette if isinstance(palette, np.ndarray) and palette.shape == (256, 3) else palette_lut(palette, classes=classes)
    mask = lut[label]
    blended = cv2.addWeighted(img_bgr, 1.0 - alpha, mask, alpha, 0.0)
    if classes is not None:
        shown = np.isin(label, list(classes))
        blended = np.where(shown[..., None], blended, img_bgr)
    return blended


def legend(class_names: Sequence[str], palette: Sequence[Sequence[int]], *, row: int = 18, width: int = 150) -> np.ndarray:
    """A small BGR image listing class names beside their colours."""
    import cv2

    img = np.full((row * len(class_names) + 4, width, 3), 255, np.uint8)
    for i, (name, (r, g, b)) in enumerate(zip(class_names, palette)):
        y = 2 + i * row
        cv2.rectangle(img, (4, y + 2), (4 + row - 4, y + row - 2), (int(b), int(g), int(r)), -1)
        cv2.putText(img, name, (row + 6, y + row - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return img
