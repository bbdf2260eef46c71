"""Procedural street scenes in CamVid's 11 classes: the built-in dataset for the demo and the tests.

Nothing is downloaded. Each scene is drawn from ``numpy.random.default_rng((seed, index))`` with
vectorised numpy/OpenCV calls, so the same ``(seed, index, size)`` always gives byte-identical
arrays. A scene is a camera view down a street: sky, buildings with windows, a road in
perspective with lane marks, pavements, and cars, poles with signs, trees, fences, pedestrians
and cyclists sized by their distance. Texture noise, shading, a global gain, a colour cast and
blur keep the classes from being separable by colour alone (grey skies, grey facades and grey
asphalt overlap), while a small CNN still learns them in a few minutes on a CPU.

Like CamVid, a 1-pixel outline of some cars and people is labelled void (ignore id 11).

Defaults: ``num_images=64``, ``size=(120, 160)`` (H, W), ``seed=0``.
"""

from __future__ import annotations

import numpy as np

from edgeseg.data import _scene
from edgeseg.data._scene import (  # noqa: F401 - the class ids, re-exported
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
)
from edgeseg.data._info import CAMVID, DatasetInfo
from edgeseg.errors import DataError

MIN_SIDE = 32
MAX_SIDE = 4096


def render_scene(seed: int, index: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One scene: ``(HxWx3 uint8 BGR image, HxW uint8 label)``, a pure function of its arguments."""
    h, w = size
    rng = np.random.default_rng((seed, index))
    c = _scene.Canvas(h, w)
    s = _scene.Street(rng, h, w)
    _scene.sky(c, rng, s)
    _scene.buildings(c, rng, s)
    _scene.side_walls(c, rng, s)
    _scene.ground(c, rng, s)
    if rng.random() < 0.4:
        _scene.fence(c, rng, s)
    _scene.objects(c, rng, s)
    return _scene.finish(c, rng), c.lab


def _check_int(name: str, value, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise DataError(f"synthetic dataset: {name} must be an integer, found {value!r}")
    v = int(value)
    if v < minimum or (maximum is not None and v > maximum):
        rng_txt = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        raise DataError(f"synthetic dataset: {name} must be {rng_txt}, found {v}")
    return v


class SyntheticScenes:
    """``num_images`` procedural street scenes of ``size`` (H, W) in CamVid's classes.

    Defaults: 64 images of 120x160, seed 0. Items are ``(HxWx3 uint8 BGR, HxW uint8 label)``;
    label ids are 0..10 or the ignore id 11. ``scene[i]`` is byte-identical for the same
    ``(seed, i, size)``.
    """

    info: DatasetInfo = CAMVID
    bad_label_pixels: int = 0

    def __init__(self, *, num_images: int = 64, size: tuple[int, int] = (120, 160), seed: int = 0) -> None:
        self.num_images = _check_int("num_images", num_images, 1)
        try:
            h, w = size
        except (TypeError, ValueError):
            raise DataError(f"synthetic dataset: size must be (height, width), found {size!r}") from None
        self.size = (_check_int("height", h, MIN_SIDE, MAX_SIDE), _check_int("width", w, MIN_SIDE, MAX_SIDE))
        self.seed = _check_int("seed", seed, 0)
        self.info = CAMVID
        self.bad_label_pixels = 0
        self.description = f"synthetic:{self.num_images} [seed {self.seed}, {self.size[0]}x{self.size[1]}]"

    def __len__(self) -> int:
        return self.num_images

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"synthetic dataset indices must be integers, found {type(i).__name__}")
        n = self.num_images
        j = int(i) + n if i < 0 else int(i)
        if not 0 <= j < n:
            raise IndexError(f"scene {i} out of range for {n} scenes")
        return render_scene(self.seed, j, self.size)

    def image_paths(self) -> list:
        """No files: an empty list."""
        return []

    def __repr__(self) -> str:
        return f"SyntheticScenes({self.description})"
