"""Images as users hold them (paths, PIL images, numpy arrays) -> HxWx3 uint8 BGR frames, or one clear
refusal.

The rules, so that nothing is silently wrong:

- a path is read with OpenCV (its colour order is known); a PIL image is converted to RGB (its order
  is known too); ``color`` applies to numpy arrays only;
- a numpy array must be HxWx3 in the ``color`` order given ("rgb", the default, as PIL, imageio,
  matplotlib, scikit-image and torchvision give; "bgr" for OpenCV's ``cv2.imread``);
- uint8 is taken as 0..255; other integer types only when every value lies in 0..255; float types
  only as 0..1 (scaled by 255), anything outside 0..1 or not finite is refused: a float image in
  0..255 and one in 0..1 that is merely dark cannot be told apart, so edgeseg does not guess;
- single-channel, four-channel and channel-first (3xHxW) arrays are refused with the one-line fix.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from edgeseg.errors import EdgesegError

#: The colour orders a numpy array may be in; the first is the default.
COLORS = ("rgb", "bgr")


def check_color(color: Any) -> str:
    """``color`` lower-cased when it is "rgb" or "bgr"; EdgesegError otherwise."""
    if not isinstance(color, str) or color.lower() not in COLORS:
        raise EdgesegError(
            f"color must be 'rgb' or 'bgr' (the order of a numpy array's channels), found {color!r}"
        )
    return color.lower()


def is_pil_image(obj: Any) -> bool:
    """True for a PIL image (checked by module, so PIL is not imported to ask)."""
    return type(obj).__module__.startswith("PIL.") and hasattr(obj, "convert") and hasattr(obj, "mode")


def is_single_image(obj: Any) -> bool:
    """True when ``obj`` is one image (a path, a PIL image, a 2-D or 3-D array), not a collection of them."""
    return (
        isinstance(obj, (str, os.PathLike))
        or is_pil_image(obj)
        or (isinstance(obj, np.ndarray) and obj.ndim <= 3)
    )


def _to_uint8(a: np.ndarray, where: str) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        raise EdgesegError(f"{where}: a boolean array is a mask, not an image")
    if np.issubdtype(a.dtype, np.integer):
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 255:
            raise EdgesegError(
                f"{where}: {a.dtype} values {lo}..{hi} do not fit 0..255 (a 16-bit image? scale it to "
                "8 bits first)"
            )
        return a.astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise EdgesegError(f"{where}: the {a.dtype} image holds NaN or Inf values")
        lo, hi = float(a.min()), float(a.max())
        if lo < 0.0 or hi > 1.0:
            raise EdgesegError(
                f"{where}: {a.dtype} values {lo:g}..{hi:g}; float images are read as 0..1 "
                "(for 0..255 values pass a uint8 array: img.astype(np.uint8))"
            )
        return np.rint(a.astype(np.float32) * 255.0).astype(np.uint8)
    raise EdgesegError(f"{where}: expected a uint8, integer or float image array, found dtype {a.dtype}")


def array_to_bgr(a: np.ndarray, *, color: str = "rgb", where: str = "image") -> np.ndarray:
    """HxWx3 array in ``color`` order (default "rgb") -> contiguous HxWx3 uint8 BGR; EdgesegError when it
    cannot be read without guessing (see the module docstring)."""
    color = check_color(color)
    shape = tuple(a.shape)
    if a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 1):
        raise EdgesegError(
            f"{where}: shape {shape} is one channel; expected HxWx3 colour "
            "(for a grey image pass np.repeat(img.reshape(img.shape[0], img.shape[1], 1), 3, axis=2))"
        )
    if a.ndim == 3 and a.shape[0] in (3, 4) and a.shape[2] not in (3, 4):
        raise EdgesegError(
            f"{where}: shape {shape} looks channel-first; expected HxWx3 (pass img.transpose(1, 2, 0))"
        )
    if a.ndim == 3 and a.shape[2] == 4:
        raise EdgesegError(
            f"{where}: shape {shape} has 4 channels (alpha?); expected HxWx3 (pass img[..., :3])"
        )
    if a.ndim != 3 or a.shape[2] != 3:
        raise EdgesegError(f"{where}: expected an HxWx3 image array, found shape {shape}")
    if 0 in shape:
        raise EdgesegError(f"{where}: the image is empty (shape {shape})")
    u8 = _to_uint8(a, where)
    return np.ascontiguousarray(u8[..., ::-1] if color == "rgb" else u8)


def to_bgr(image: Any, *, color: str = "rgb", where: str = "image") -> np.ndarray:
    """One image -> HxWx3 uint8 BGR. ``image``: a path (str or PathLike), a PIL image, or a numpy array in
    ``color`` order (default "rgb"); anything else is an EdgesegError naming what is accepted."""
    color = check_color(color)
    if isinstance(image, (str, os.PathLike)):
        from edgeseg.data.image import read_image

        return read_image(image)
    if is_pil_image(image):
        rgb = np.asarray(image.convert("RGB"))
        return array_to_bgr(rgb, color="rgb", where=where)
    if isinstance(image, np.ndarray):
        return array_to_bgr(image, color=color, where=where)
    raise EdgesegError(
        f"{where}: expected a path, a PIL image or a numpy HxWx3 array, found {type(image).__name__}"
    )
