"""Drawing for the synthetic street scenes (``edgeseg.data.synthetic``): the background (sky,
buildings with windows, side walls, road and pavements, fences) and the camera finish (texture,
shading, gain, colour cast, blur, noise). The canvas, class ids and street geometry are
``_canvas.py``; cars, people, poles and trees ``_scene_objects.py`` (``objects``, re-exported here).
All randomness comes from the ``numpy.random.Generator`` passed in; no per-pixel Python loops.
"""

from __future__ import annotations

import numpy as np

from edgeseg.data._canvas import (  # noqa: F401 - the class ids, re-exported
    BICYCLIST,
    BUILDING,
    CAR,
    FENCE,
    PAVEMENT,
    PEDESTRIAN,
    POLE,
    ROAD,
    SIGN,
    SKY,
    TREE,
    VOID,
    Canvas,
    Street,
    _vary,
)
from edgeseg.data._scene_objects import objects  # noqa: F401 - re-exported for synthetic.render_scene

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
