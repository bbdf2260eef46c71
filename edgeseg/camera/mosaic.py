"""Several sources in one picture: a grid of tiles, each the newest rendered frame of one source.

The grid is ``cols = ceil(sqrt(n))`` wide (2 sources: 1x2, 3-4: 2x2, 5-6: 2x3). The tile size is
fixed by the first frame rendered (other sizes are resized to it); a source with no frame yet is
a black tile. Each tile carries its source number in the top-left corner.
"""

from __future__ import annotations

import math

import numpy as np


def grid(n: int) -> tuple[int, int]:
    """(rows, cols) for ``n`` tiles."""
    if n < 1:
        raise ValueError("a mosaic needs at least one tile")
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


class Mosaic:
    """``update(i, canvas)`` stores source ``i``'s newest canvas and returns a new mosaic array."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.rows, self.cols = grid(n)
        self.tile_hw: tuple[int, int] | None = None
        self.tiles: list[np.ndarray | None] = [None] * n

    def update(self, i: int, canvas: np.ndarray) -> np.ndarray:
        import cv2

        if self.tile_hw is None:
            self.tile_hw = canvas.shape[:2]
        h, w = self.tile_hw
        if canvas.shape[:2] != (h, w):
            canvas = cv2.resize(canvas, (w, h), interpolation=cv2.INTER_AREA)
        else:
            canvas = canvas.copy()
        cv2.putText(canvas, str(i), (6, h - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(
            canvas, str(i), (6, h - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA
        )
        self.tiles[i] = canvas
        out = np.zeros((self.rows * h, self.cols * w, 3), np.uint8)
        for k, tile in enumerate(self.tiles):
            if tile is not None:
                r, c = divmod(k, self.cols)
                out[r * h : (r + 1) * h, c * w : (c + 1) * w] = tile
        return out
