"""The drawing surface of the synthetic street scenes (``edgeseg.data.synthetic``): the class ids, a
canvas that draws the image and its label map together (label edges never anti-aliased), colour
variation, and the street geometry (horizon, road and pavement edges, pixels per metre at a row)."""

from __future__ import annotations

import numpy as np

from edgeseg.data._info import CAMVID

SKY, BUILDING, POLE, ROAD, PAVEMENT, TREE, SIGN, FENCE, CAR, PEDESTRIAN, BICYCLIST = range(11)
VOID = CAMVID.ignore_index

_SHIFT = 4  # sub-pixel bits for cv2 drawing
_ONE = 1 << _SHIFT


def _pts(points) -> np.ndarray:
    return np.round(np.asarray(points, np.float64) * _ONE).astype(np.int32).reshape(-1, 1, 2)


class Canvas:
    """A float32 BGR image and its label map, drawn together (label edges never anti-aliased)."""

    def __init__(self, h: int, w: int) -> None:
        import cv2

        self.cv2 = cv2
        self.h, self.w = h, w
        self.img = np.zeros((h, w, 3), np.float32)
        self.lab = np.zeros((h, w), np.uint8)

    def poly(self, points, colour, cls: int, *, outline: bool = False) -> None:
        p = _pts(points)
        self.cv2.fillPoly(self.img, [p], tuple(float(c) for c in colour), self.cv2.LINE_8, _SHIFT)
        self.cv2.fillPoly(self.lab, [p], int(cls), self.cv2.LINE_8, _SHIFT)
        if outline:
            self.cv2.polylines(self.lab, [p], True, VOID, 1, self.cv2.LINE_8, _SHIFT)

    def rect(
        self, x0: float, y0: float, x1: float, y1: float, colour, cls: int, *, outline: bool = False
    ) -> None:
        self.poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], colour, cls, outline=outline)

    def circle(self, cx: float, cy: float, r: float, colour, cls: int, thickness: int = -1) -> None:
        c = (int(round(cx * _ONE)), int(round(cy * _ONE)))
        rr = max(_ONE // 2, int(round(r * _ONE)))
        self.cv2.circle(self.img, c, rr, tuple(float(v) for v in colour), thickness, self.cv2.LINE_8, _SHIFT)
        self.cv2.circle(self.lab, c, rr, int(cls), thickness, self.cv2.LINE_8, _SHIFT)

    def line(self, x0: float, y0: float, x1: float, y1: float, colour, cls: int, thickness: int = 1) -> None:
        a = (int(round(x0 * _ONE)), int(round(y0 * _ONE)))
        b = (int(round(x1 * _ONE)), int(round(y1 * _ONE)))
        self.cv2.line(
            self.img, a, b, tuple(float(v) for v in colour), max(1, thickness), self.cv2.LINE_8, _SHIFT
        )
        self.cv2.line(self.lab, a, b, int(cls), max(1, thickness), self.cv2.LINE_8, _SHIFT)


def _vary(rng: np.random.Generator, colour, spread: float = 25.0) -> np.ndarray:
    return np.clip(np.asarray(colour, np.float32) + rng.uniform(-spread, spread, 3), 0, 255)


class Street:
    """Geometry of one scene: horizon, road and pavement edges, metres-to-pixels at a row."""

    def __init__(self, rng: np.random.Generator, h: int, w: int) -> None:
        self.h, self.w = h, w
        self.horizon = h * rng.uniform(0.33, 0.5)
        self.ground = self.horizon + h * rng.uniform(
            0.005, 0.04
        )  # where the street's far end meets the facades
        self.vx = w * rng.uniform(0.35, 0.65)
        self.top_half = w * rng.uniform(0.015, 0.05)
        self.bottom_x = self.vx + w * rng.uniform(-0.15, 0.15)
        self.bottom_half = w * rng.uniform(0.3, 0.6)
        self.pavement = rng.uniform(1.5, 2.3)  # pavement outer edge as a multiple of the road half-width
        self.camera_m = 1.5  # camera height: an object at ground row y is (y - horizon) / 1.5 px per metre

    def t_at(self, y: float) -> float:
        return (y - self.ground) / (self.h - self.ground)

    def centre(self, y: float) -> float:
        return self.vx + (self.bottom_x - self.vx) * self.t_at(y)

    def half(self, y: float) -> float:
        return self.top_half + (self.bottom_half - self.top_half) * self.t_at(y)

    def px_per_m(self, y: float) -> float:
        return max(0.05, (y - self.horizon) / self.camera_m)

    def row(self, rng: np.random.Generator, lo: float = 0.02, hi: float = 0.95) -> float:
        """A ground row, sampled so that far (small) and near (large) objects are both common."""
        return self.ground + (self.h - self.ground) * float(rng.uniform(lo, hi)) ** 1.5

    def pavement_x(self, rng: np.random.Generator, y: float) -> float:
        side = 1 if rng.random() < 0.5 else -1
        a = self.half(y) * float(rng.uniform(1.05, self.pavement))
        return self.centre(y) + side * a
