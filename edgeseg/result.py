"""``Segmentation``: what ``Model.predict`` returns for one image (labels, optional logits, the card's names
and palette), with class areas, a colour mask, an overlay with a legend, and saving."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeseg._inputs import check_color
from edgeseg.errors import EdgesegError

#: What ``Segmentation.save`` can write.
SAVE_KINDS = ("overlay", "mask", "labels")


@dataclass(frozen=True, eq=False)
class Segmentation:
    """One image's segmentation.

    - ``labels``: HxW uint8 class ids at the image's own size.
    - ``logits``: CxH'xW' float32 at the size the model ran, or None unless ``predict(..., logits=True)``.
    - ``image``: the input as HxWx3 uint8 BGR (for overlays).
    - ``class_names`` / ``palette``: from the model card (palette as (R, G, B)).
    - ``source``: the path it was read from, or "" for an in-memory image.
    """

    labels: np.ndarray
    image: np.ndarray = field(repr=False)
    class_names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...] = field(repr=False)
    logits: np.ndarray | None = field(default=None, repr=False)
    source: str = ""

    def class_areas(self, *, present_only: bool = True) -> dict[str, float]:
        """Class name -> fraction of the image's pixels (0..1), largest first. Default ``present_only=True``
        leaves out classes with no pixel; pixels outside the classes (ignore ids) are not counted."""
        n = len(self.class_names)
        counts = np.bincount(self.labels.ravel(), minlength=n)[:n]
        order = np.argsort(-counts, kind="stable")
        total = self.labels.size
        return {self.class_names[i]: float(counts[i]) / total for i in order if counts[i] or not present_only}

    def mask(self, *, legend: bool = False, color: str = "rgb") -> np.ndarray:
        """HxWx3 uint8 colour mask in the palette, channels in ``color`` order (default "rgb"); with a legend
        of the classes present when ``legend=True`` (default False)."""
        from edgeseg.vis import colorize, draw_legend

        color = check_color(color)
        out = colorize(self.labels, self.palette)
        if legend:
            out = draw_legend(out, self.labels, self.class_names, self.palette)
        return _order(out, color)

    def overlay(self, *, alpha: float = 0.5, legend: bool = True, color: str = "rgb") -> np.ndarray:
        """The mask blended over the image (default ``alpha`` 0.5) with a legend of the classes present
        (default ``legend=True``), HxWx3 uint8 in ``color`` order (default "rgb")."""
        from edgeseg.vis import draw_legend, overlay

        color = check_color(color)
        if not isinstance(alpha, (int, float)) or not 0.0 <= float(alpha) <= 1.0:
            raise EdgesegError(f"alpha must be between 0 and 1, found {alpha!r}")
        out = overlay(self.image, self.labels, self.palette, alpha=float(alpha))
        if legend:
            out = draw_legend(out, self.labels, self.class_names, self.palette)
        return _order(out, color)

    def save(
        self, path: str | os.PathLike, *, kind: str = "overlay", alpha: float = 0.5, legend: bool = True
    ) -> Path:
        """Write a PNG/JPEG (by the path's ending) and return its path. ``kind``: "overlay" (default) or
        "mask" (colour mask), each with a legend of the classes present unless ``legend=False``, or "labels"
        (class ids, lossless PNG only)."""
        import cv2

        from edgeseg._io import atomic_write_bytes

        p = Path(path)
        if kind not in SAVE_KINDS:
            raise EdgesegError(f"kind must be one of {', '.join(SAVE_KINDS)}, found {kind!r}")
        if p.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp"):
            raise EdgesegError(
                f"{p}: expected a .png, .jpg or .bmp file name, found {p.suffix or 'no suffix'!r}"
            )
        if kind == "labels" and p.suffix.lower() != ".png":
            raise EdgesegError(f"{p}: class ids need a lossless .png, found {p.suffix!r}")
        if kind == "overlay":
            pic = self.overlay(alpha=alpha, legend=legend, color="bgr")
        elif kind == "mask":
            pic = self.mask(legend=legend, color="bgr")
        else:
            pic = self.labels
        ok, buf = cv2.imencode(p.suffix.lower(), pic)
        if not ok:
            raise EdgesegError(f"{p}: OpenCV could not encode the image")
        return atomic_write_bytes(p, buf.tobytes())


def _order(bgr: np.ndarray, color: str) -> np.ndarray:
    return np.ascontiguousarray(bgr[..., ::-1]) if color == "rgb" else bgr
