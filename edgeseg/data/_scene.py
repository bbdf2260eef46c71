"""Drawing for the synthetic street scenes (``edgeseg.data.synthetic``): a canvas that draws the
image and its label map together, the street geometry, one function per kind of thing, and the
camera finish (texture, shading, gain, colour cast, blur, noise). All randomness comes from the
``numpy.random.Generator`` passed in; no per-pixel Python loops.
"""

from __future__ import annotations

import numpy as np

from edgeseg.data._info import CAMVID

SKY, BUILDING, POLE, ROAD, PAVEMENT, TREE, SIGN, FENCE, CAR, PEDESTRIAN, BICYCLIST = range(11)
VOID = CAMVID.ignore_index

_SHIFT = 4  # sub-pixel bits for cv2 drawing
_ONE = 1 << _SHIFT

#: Texture noise amplitude (intensity units, before lighting) per label id, void included.
_TEXTURE = np.array([3, 9, 5, 7, 9, 26, 5, 12, 7, 12, 12, 0], np.float32)

#: Facade colours (BGR): brick, beige, grey, white, brown, pale blue, ochre.
_FACADES = np.array(
    [
        (60, 70, 150),
        (150, 180, 200),
        (120, 120, 120),
        (200, 200, 200),
        (60, 90, 120),
        (170, 150, 130),
        (80, 150, 190),
    ],
    np.float32,
)
_CAR_COLOURS = np.array(
    [
        (30, 30, 30),
        (220, 220, 220),
        (40, 40, 170),
        (150, 60, 30),
        (130, 130, 130),
        (40, 120, 40),
        (0, 180, 220),
    ],
    np.float32,
)


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


def sky(c: Canvas, rng: np.random.Generator, s: Street) -> None:
    h = c.h
    if rng.random() < 0.45:  # overcast: grey-white, close to facade and road greys
        top = _vary(rng, (200, 200, 200), 35)
        bottom = np.clip(top + rng.uniform(-10, 25), 0, 255)
    else:
        top = _vary(rng, (200, 140, 90), 30)
        bottom = _vary(rng, (235, 210, 190), 20)
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    c.img[:] = top * (1 - t) + bottom * t
    c.lab[:] = SKY


def buildings(c: Canvas, rng: np.random.Generator, s: Street) -> None:
    h, w = c.h, c.w
    x = -w * rng.uniform(0, 0.1)
    y1 = s.ground + 1
    while x < w:
        bw = w * rng.uniform(0.1, 0.35)
        if rng.random() < 0.2:  # a gap: sky down to the horizon
            x += bw * 0.5
            continue
        top = 0.0 if rng.random() < 0.25 else s.horizon * rng.uniform(0.05, 0.85)
        colour = _vary(rng, _FACADES[rng.integers(len(_FACADES))], 30)
        c.rect(x, top, x + bw, y1, colour, BUILDING)
        x0i, x1i, y0i, y1i = max(0, int(x)), min(w, int(x + bw)), max(0, int(top)), min(h, int(y1))
        if x1i - x0i > 4 and y1i - y0i > 4 and rng.random() < 0.85:
            _windows(c, rng, x0i, x1i, y0i, y1i, colour)
        x += bw


def _windows(
    c: Canvas, rng: np.random.Generator, x0: int, x1: int, y0: int, y1: int, facade: np.ndarray
) -> None:
    scale = c.w / 160.0
    px = max(3, int(rng.uniform(5, 11) * scale))
    py = max(3, int(rng.uniform(6, 12) * scale))
    ww = max(1, int(px * rng.uniform(0.35, 0.65)))
    wh = max(1, int(py * rng.uniform(0.35, 0.6)))
    ys = np.arange(y0, y1)[:, None] - y0 - max(1, py // 2)
    xs = np.arange(x0, x1)[None, :] - x0 - max(1, px // 3)
    mask = (ys >= 0) & (ys % py < wh) & (xs >= 0) & (xs % px < ww) & (xs < (x1 - x0) - px // 2)
    if rng.random() < 0.5:
        glass = facade * rng.uniform(0.25, 0.5)
    else:
        glass = _vary(rng, (150, 120, 100), 40)
    region = c.img[y0:y1, x0:x1]
    region[mask] = glass
    region[mask & (rng.random(mask.shape) < 0.15)] = _vary(rng, (150, 210, 230), 20)  # a few lit windows


def side_walls(c: Canvas, rng: np.random.Generator, s: Street) -> None:
    """Facades in perspective at the image sides, from the top down to the pavement's outer edge."""
    h = c.h
    for side in (-1, 1):
        if rng.random() > 0.6:
            continue
        xf = s.vx + side * s.top_half * s.pavement * rng.uniform(1.0, 1.4)
        xb = s.bottom_x + side * s.bottom_half * s.pavement * 1.2
        edge = 0.0 if side < 0 else float(c.w)
        colour = _vary(rng, _FACADES[rng.integers(len(_FACADES))], 30)
        top_far = s.horizon - (s.horizon - 0) * rng.uniform(0.1, 0.5)
        top_edge = -h * rng.uniform(0.0, 0.5)
        if (xb - edge) * side < 0:  # the pavement edge leaves the image side before the bottom
            ty = (edge - xf) / (xb - xf)
            yb = s.ground + ty * (h - s.ground)
            pts = [(edge, top_edge), (xf, top_far), (xf, s.ground), (edge, yb)]
        else:
            pts = [(edge, top_edge), (xf, top_far), (xf, s.ground), (xb, h), (edge, h)]
        c.poly(pts, colour, BUILDING)
        if rng.random() < 0.8:
            _wall_windows(
                c, rng, xf, edge, (top_far, top_edge), (s.ground, s.ground + (h - s.ground) * 2.5), colour
            )


def _wall_windows(c: Canvas, rng: np.random.Generator, xf: float, edge: float, tops, bottoms, facade) -> None:
    """Windows on a facade seen at an angle: columns bunch up towards the far end, floors follow
    the lines from the far corner to the image side."""
    x0, x1 = sorted((int(np.floor(min(xf, edge))), int(np.ceil(max(xf, edge)))))
    x0, x1 = max(0, x0), min(c.w, x1)
    if x1 - x0 < 4:
        return
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    ys = np.arange(c.h, dtype=np.float32)[:, None]
    u = np.clip((xs - xf) / (edge - xf), 0.0, 1.0)  # 0 at the far corner, 1 at the image side
    top = tops[0] + (tops[1] - tops[0]) * u
    bottom = bottoms[0] + (bottoms[1] - bottoms[0]) * u
    v = (ys - top) / np.maximum(bottom - top, 1e-3)  # 0 at the roof line, 1 at street level
    cols = np.log1p(u * rng.uniform(8, 20)) * rng.uniform(3, 6)
    floors = rng.uniform(4, 9)
    mask = (
        ((cols % 1.0) < 0.5)
        & (((v * floors) % 1.0) > 0.35)
        & (((v * floors) % 1.0) < 0.75)
        & (v > 0.05)
        & (v < 0.8)
    )
    mask &= c.lab[:, x0:x1] == BUILDING
    c.img[:, x0:x1][mask] = facade * rng.uniform(0.25, 0.55)


def ground(c: Canvas, rng: np.random.Generator, s: Street) -> None:
    h = c.h
    pav = _vary(rng, (140, 150, 165), 35)
    road = _vary(rng, (95, 95, 95), 30)
    g = s.ground
    k = s.pavement
    c.poly(
        [
            (s.vx - s.top_half * k, g),
            (s.vx + s.top_half * k, g),
            (s.bottom_x + s.bottom_half * k * 1.2, h + 1),
            (s.bottom_x - s.bottom_half * k * 1.2, h + 1),
        ],
        pav,
        PAVEMENT,
    )
    # kerbs: a lighter strip on each side of the road, still pavement
    kerb = np.clip(pav * 1.2 + 15, 0, 255)
    for side in (-1, 1):
        c.poly(
            [
                (s.vx + side * s.top_half * 1.08, g),
                (s.vx + side * s.top_half, g),
                (s.bottom_x + side * s.bottom_half, h + 1),
                (s.bottom_x + side * s.bottom_half * 1.08, h + 1),
            ],
            kerb,
            PAVEMENT,
        )
    c.poly(
        [
            (s.vx - s.top_half, g),
            (s.vx + s.top_half, g),
            (s.bottom_x + s.bottom_half, h + 1),
            (s.bottom_x - s.bottom_half, h + 1),
        ],
        road,
        ROAD,
    )
    paint = _vary(rng, (235, 235, 235), 15) if rng.random() < 0.7 else _vary(rng, (40, 200, 230), 15)
    # dashed centre line; dashes equally spaced in depth, so geometrically in image rows
    n = int(rng.integers(4, 9))
    phase = rng.uniform(0, 1)
    for j in range(n):
        t0 = ((j + phase) / n) ** 2.2
        t1 = ((j + phase + 0.5) / n) ** 2.2
        ya, yb = g + t0 * (h - g), g + min(t1, 1.05) * (h - g)
        da, db = max(0.3, s.half(ya) * 0.035), max(0.3, s.half(yb) * 0.035)
        xa, xb = s.centre(ya), s.centre(yb)
        c.poly([(xa - da, ya), (xa + da, ya), (xb + db, yb), (xb - db, yb)], paint, ROAD)
    if rng.random() < 0.5:  # solid edge lines
        for side in (-1, 1):
            a0, b0 = s.top_half * 0.93, s.bottom_half * 0.93
            c.poly(
                [
                    (s.vx + side * a0, g),
                    (s.vx + side * a0 * 0.97, g),
                    (s.bottom_x + side * b0 * 0.96, h + 1),
                    (s.bottom_x + side * b0, h + 1),
                ],
                paint,
                ROAD,
            )


def fence(c: Canvas, rng: np.random.Generator, s: Street) -> None:
    side = 1 if rng.random() < 0.5 else -1
    k = s.pavement * rng.uniform(0.9, 1.05)
    ta, tb = rng.uniform(0.0, 0.3), rng.uniform(0.5, 1.0)
    ya, yb = s.ground + ta * (c.h - s.ground), s.ground + tb * (c.h - s.ground)
    xa, xb = s.centre(ya) + side * s.half(ya) * k, s.centre(yb) + side * s.half(yb) * k
    height = rng.uniform(0.9, 1.6)
    ha, hb = height * s.px_per_m(ya), height * s.px_per_m(yb)
    colour = _vary(rng, (70, 90, 110), 30)
    c.poly([(xa, ya), (xb, yb), (xb, yb - hb), (xa, ya - ha)], colour, FENCE)
    # slats: darker vertical lines, still fence
    slat = colour * 0.55
    for u in np.linspace(0, 1, int(rng.integers(6, 14))):
        x, y, hh = xa + (xb - xa) * u, ya + (yb - ya) * u, ha + (hb - ha) * u
        c.line(x, y, x, y - hh, slat, FENCE, thickness=max(1, int(hh * 0.05)))
    c.line(xa, ya - ha * 0.8, xb, yb - hb * 0.8, slat, FENCE, thickness=max(1, int(hb * 0.06)))


def _car(c: Canvas, rng: np.random.Generator, s: Street, y: float, x: float) -> None:
    m = s.px_per_m(y)
    height = rng.uniform(1.35, 1.8) * m
    width = (rng.uniform(1.7, 2.0) if rng.random() < 0.6 else rng.uniform(3.5, 4.6)) * m  # back or side view
    body = _vary(rng, _CAR_COLOURS[rng.integers(len(_CAR_COLOURS))], 25)
    outline = rng.random() < 0.5
    x0, x1 = x - width / 2, x + width / 2
    wheel = max(0.6, height * 0.2)
    base = y - wheel * 0.6
    belt = y - height * 0.55
    c.rect(x0, belt, x1, base, body, CAR, outline=outline)
    inset = width * rng.uniform(0.08, 0.2)
    c.poly(
        [
            (x0 + inset * 0.3, belt),
            (x1 - inset * 0.3, belt),
            (x1 - inset, y - height),
            (x0 + inset, y - height),
        ],
        body,
        CAR,
        outline=outline,
    )
    glass = _vary(rng, (70, 50, 40), 20)
    gh = (belt - (y - height)) * 0.75
    c.poly(
        [
            (x0 + inset * 0.6, belt - 1),
            (x1 - inset * 0.6, belt - 1),
            (x1 - inset * 1.1, belt - gh),
            (x0 + inset * 1.1, belt - gh),
        ],
        glass,
        CAR,
    )
    tyre = (25, 25, 25)
    c.circle(x0 + width * 0.18, base, wheel, tyre, CAR)
    c.circle(x1 - width * 0.18, base, wheel, tyre, CAR)
    lights = (40, 40, 210) if rng.random() < 0.5 else (200, 230, 240)
    lw = max(0.6, width * 0.09)
    c.rect(
        x0 + lw * 0.4, belt + (base - belt) * 0.25, x0 + lw * 1.4, belt + (base - belt) * 0.45, lights, CAR
    )
    c.rect(
        x1 - lw * 1.4, belt + (base - belt) * 0.25, x1 - lw * 0.4, belt + (base - belt) * 0.45, lights, CAR
    )


def _person(c: Canvas, rng: np.random.Generator, s: Street, y: float, x: float, cls: int) -> None:
    m = s.px_per_m(y)
    height = rng.uniform(1.55, 1.9) * m
    width = height * 0.26
    outline = rng.random() < 0.5
    coat = _vary(rng, rng.uniform(20, 200, 3), 30)
    legs = _vary(rng, (60, 40, 40), 25)
    skin = _vary(rng, (120, 150, 200), 25)
    head = height * 0.07
    if cls == BICYCLIST:
        r = height * 0.2
        frame = _vary(rng, (40, 40, 40), 30)
        th = max(1, int(r * 0.15))
        wheel_y = y - r
        c.circle(x - r * 1.3, wheel_y, r, frame, cls, thickness=th)
        c.circle(x + r * 1.3, wheel_y, r, frame, cls, thickness=th)
        c.line(x - r * 1.3, wheel_y, x, wheel_y - r * 0.2, frame, cls, th)
        c.line(x, wheel_y - r * 0.2, x + r * 1.3, wheel_y, frame, cls, th)
        c.line(x - r * 0.3, wheel_y - r * 1.1, x, wheel_y - r * 0.2, frame, cls, th)
        hip = wheel_y - r * 1.1
        c.line(x - r * 0.3, hip, x + r * 0.1, wheel_y - r * 0.1, legs, cls, max(1, int(width * 0.35)))
        top = hip - height * 0.38
        c.poly(
            [(x - width * 0.6, hip), (x, hip), (x + width * 0.3, top), (x - width * 0.2, top)],
            coat,
            cls,
            outline=outline,
        )
        c.circle(x + width * 0.05, top - head, head, skin, cls)
        return
    hip = y - height * 0.47
    stride = width * rng.uniform(0.0, 0.5)
    lt = max(1, int(width * 0.3))
    c.line(x - width * 0.15, hip, x - width * 0.15 - stride, y, legs, cls, lt)
    c.line(x + width * 0.15, hip, x + width * 0.15 + stride, y, legs, cls, lt)
    top = y - height + head * 2
    c.rect(x - width / 2, top, x + width / 2, hip + 1, coat, cls, outline=outline)
    c.circle(x, top - head * 0.9, head, skin, cls)


def _pole(c: Canvas, rng: np.random.Generator, s: Street, y: float, x: float) -> None:
    m = s.px_per_m(y)
    height = rng.uniform(3.5, 8.0) * m
    half = max(0.45, 0.09 * m)
    grey = _vary(rng, (110, 110, 115), 35)
    c.rect(x - half, y - height, x + half, y, grey, POLE)
    if rng.random() < 0.6:
        size = rng.uniform(0.5, 0.8) * m
        cy = y - height * rng.uniform(0.6, 0.95)
        kind = rng.integers(3)
        if kind == 0:
            c.circle(x, cy, size / 2, _vary(rng, (40, 40, 200), 25), SIGN)
            c.circle(x, cy, size / 3, (230, 230, 230), SIGN)
        elif kind == 1:
            c.rect(
                x - size / 2, cy - size / 2, x + size / 2, cy + size / 2, _vary(rng, (170, 90, 20), 25), SIGN
            )
        else:  # a traffic light
            c.rect(x - size / 4, cy - size * 0.7, x + size / 4, cy + size * 0.7, (30, 30, 30), SIGN)
            c.circle(x, cy - size * 0.4, size / 7, (60, 60, 230), SIGN)
            c.circle(x, cy + size * 0.4, size / 7, (60, 200, 60), SIGN)


def _tree(c: Canvas, rng: np.random.Generator, s: Street, y: float, x: float) -> None:
    m = s.px_per_m(y)
    trunk_h = rng.uniform(1.5, 3.0) * m
    c.rect(x - max(0.5, 0.15 * m), y - trunk_h, x + max(0.5, 0.15 * m), y, _vary(rng, (30, 50, 70), 15), TREE)
    crown = rng.uniform(1.2, 2.5) * m
    green = _vary(rng, (40, 120, 70), 30)
    for _ in range(int(rng.integers(4, 9))):
        dx, dy = rng.normal(0, crown * 0.45), rng.normal(0, crown * 0.35)
        r = crown * rng.uniform(0.35, 0.7)
        c.circle(
            x + dx, y - trunk_h - crown * 0.6 + dy, r, np.clip(green * rng.uniform(0.7, 1.3), 0, 255), TREE
        )


def objects(c: Canvas, rng: np.random.Generator, s: Street) -> None:
    """Cars, people, poles, trees, drawn far to near so nearer ones occlude."""
    todo: list[tuple[float, int, float, str]] = []
    n_cars = int(rng.integers(1, 5)) if rng.random() < 0.9 else 0
    for _ in range(n_cars):
        y = s.row(rng, 0.05, 0.75)
        lane = (
            rng.uniform(-0.75, 0.75) if rng.random() < 0.8 else rng.choice([-1, 1]) * rng.uniform(1.05, 1.4)
        )
        todo.append((y, len(todo), s.centre(y) + lane * s.half(y), "car"))
    for _ in range(int(rng.integers(0, 4))):
        y = s.row(rng)
        todo.append((y, len(todo), s.pavement_x(rng, y), "pedestrian"))
    if rng.random() < 0.35:
        y = s.row(rng, 0.1, 0.8)
        side = rng.choice([-1, 1])
        todo.append((y, len(todo), s.centre(y) + side * s.half(y) * rng.uniform(0.7, 0.95), "bicyclist"))
    for _ in range(int(rng.integers(1, 5))):
        y = s.row(rng)
        todo.append((y, len(todo), s.pavement_x(rng, y), "pole"))
    for _ in range(int(rng.integers(0, 4))):
        y = s.row(rng, 0.0, 0.7)
        todo.append((y, len(todo), s.pavement_x(rng, y), "tree"))
    for y, _, x, kind in sorted(todo):
        if kind == "car":
            _car(c, rng, s, y, x)
        elif kind == "pedestrian":
            _person(c, rng, s, y, x, PEDESTRIAN)
        elif kind == "bicyclist":
            _person(c, rng, s, y, x, BICYCLIST)
        elif kind == "pole":
            _pole(c, rng, s, y, x)
        else:
            _tree(c, rng, s, y, x)


def finish(c: Canvas, rng: np.random.Generator) -> np.ndarray:
    """Texture noise per class, smooth shading, gain, colour cast, blur, sensor noise -> uint8."""
    import cv2

    h, w = c.h, c.w
    img = c.img
    amp = _TEXTURE[c.lab] * rng.uniform(0.7, 1.3)
    grain = rng.standard_normal((h, w, 1), dtype=np.float32) + 0.35 * rng.standard_normal(
        (h, w, 3), dtype=np.float32
    )
    img += grain * amp[..., None]
    coarse = rng.standard_normal((4, 5), dtype=np.float32)
    shade = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    img *= (1.0 + rng.uniform(0.08, 0.25) * shade)[..., None]
    img *= rng.uniform(0.55, 1.3) * rng.uniform(0.85, 1.15, 3).astype(np.float32)
    sigma = rng.uniform(0.3, 1.1) * max(1.0, w / 320.0)
    img = cv2.GaussianBlur(img, (0, 0), sigma)
    img += rng.standard_normal((h, w, 3), dtype=np.float32) * rng.uniform(1.0, 5.0)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)
