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
    """Alpha-blend the colour mask over the image (default alpha 0.5). Pixels of hidden classes keep the
    image."""
    import cv2

    lut = (
        palette
        if isinstance(palette, np.ndarray) and palette.shape == (256, 3)
        else palette_lut(palette, classes=classes)
    )
    mask = lut[label]
    blended = cv2.addWeighted(img_bgr, 1.0 - alpha, mask, alpha, 0.0)
    if classes is not None:
        shown = np.isin(label, list(classes))
        blended = np.where(shown[..., None], blended, img_bgr)
    return blended


def legend(
    class_names: Sequence[str], palette: Sequence[Sequence[int]], *, row: int = 18, width: int | None = None
) -> np.ndarray:
    """A small BGR image listing class names beside their colours. Default ``row`` 18 px per class;
    ``width=None`` (default) fits the longest name; the font scales with ``row``."""
    import cv2

    font = 0.42 * row / 18
    if width is None:
        text_w = max(
            (cv2.getTextSize(n, cv2.FONT_HERSHEY_SIMPLEX, font, 1)[0][0] for n in class_names), default=0
        )
        width = row + 10 + text_w
    img = np.full((row * len(class_names) + 4, width, 3), 255, np.uint8)
    for i, (name, (r, g, b)) in enumerate(zip(class_names, palette)):
        y = 2 + i * row
        cv2.rectangle(img, (4, y + 2), (4 + row - 4, y + row - 2), (int(b), int(g), int(r)), -1)
        cv2.putText(
            img,
            name,
            (row + 6, y + row - max(3, row // 4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            font,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    return img


def legend_row(height: int) -> int:
    """Legend row height for a frame ``height`` px tall: height / 30, within 10..18 px (a 360 px frame:
    12)."""
    return int(min(18, max(10, height // 30)))


def draw_legend(
    img_bgr: np.ndarray,
    label: np.ndarray,
    class_names: Sequence[str],
    palette: Sequence[Sequence[int]],
    *,
    max_area: float = 0.08,
) -> np.ndarray:
    """A copy of ``img_bgr`` with a legend of the classes present in ``label`` (largest first) in the
    top-right corner, covering at most ``max_area`` of the picture (default 0.08): classes that do not
    fit are left out, and so is the legend when not even one fits."""
    h, w = img_bgr.shape[:2]
    n = len(class_names)
    counts = np.bincount(label.ravel(), minlength=n)[:n]
    ids = [int(i) for i in np.argsort(-counts, kind="stable") if counts[i]]
    row = legend_row(h)
    out = img_bgr.copy()
    while ids:
        box = legend([class_names[i] for i in ids], [palette[i] for i in ids], row=row)
        bh, bw = box.shape[:2]
        if bh * bw <= max_area * h * w and bh + 8 <= h and bw + 8 <= w:
            out[4 : 4 + bh, w - bw - 4 : w - 4] = box
            return out
        ids = ids[:-1]
    return out
