"""Training augmentation as in the CGNet recipe: random scale 0.5-2.0, random crop with ignore
padding, horizontal flip. Labels are only ever resized with nearest neighbour.

Randomness comes from an explicit ``numpy.random.Generator`` so a (seed, epoch, index) triple
always gives the same sample: resumed training sees exactly the data an uninterrupted run would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TrainTransform:
    """Defaults: scale range (0.5, 2.0), square crop 360, flip probability 0.5."""

    crop: tuple[int, int] = (360, 360)
    scale: tuple[float, float] = (0.5, 2.0)
    flip: float = 0.5
    ignore_index: int = 255

    def __call__(
        self, img: np.ndarray, lab: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        s = float(rng.uniform(*self.scale))
        if s != 1.0:
            h, w = img.shape[:2]
            nh, nw = max(1, round(h * s)), max(1, round(w * s))
            img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
            lab = cv2.resize(lab, (nw, nh), interpolation=cv2.INTER_NEAREST)
        ch, cw = self.crop
        h, w = img.shape[:2]
        ph, pw = max(ch - h, 0), max(cw - w, 0)
        if ph or pw:
            img = cv2.copyMakeBorder(img, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=(0, 0, 0))
            lab = cv2.copyMakeBorder(lab, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=self.ignore_index)
            h, w = img.shape[:2]
        y = int(rng.integers(0, h - ch + 1))
        x = int(rng.integers(0, w - cw + 1))
        img, lab = img[y : y + ch, x : x + cw], lab[y : y + ch, x : x + cw]
        if rng.random() < self.flip:
            img, lab = img[:, ::-1], lab[:, ::-1]
        return np.ascontiguousarray(img), np.ascontiguousarray(lab)
