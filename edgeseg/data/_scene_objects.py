"""The objects of a synthetic street scene (``edgeseg.data.synthetic``): cars, pedestrians and
cyclists, poles with signs, trees, each sized by its distance and drawn far to near. All randomness
comes from the ``numpy.random.Generator`` passed in."""

from __future__ import annotations

import numpy as np

from edgeseg.data._canvas import (
    BICYCLIST,
    CAR,
    PEDESTRIAN,
    POLE,
    SIGN,
    TREE,
    Canvas,
    Street,
    _vary,
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
