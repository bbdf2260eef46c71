"""Safe image and label reading: dimensions are checked before decoding, failures raise DataError."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgeseg.errors import DataError

#: Refuse images with more pixels than this before decoding (OpenCV's own limit is 2**30).
MAX_PIXELS = 64_000_000


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) read from the file header only, without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if p.is_dir():
        raise DataError(f"{p}: is a folder, expected an image file")
    if not p.is_file():
        raise DataError(f"{p}: file not found")
    try:
        with Image.open(p) as im:
            w, h = im.size
    except Image.DecompressionBombError as e:  # PIL's own guard, at 2x its default limit
        raise DataError(f"{p}: image has more pixels than the limit ({e}); resize it first") from e
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"{p}: not a readable image ({e.__class__.__name__})") from e
    return int(h), int(w)


def _check_size(p: Path, max_pixels: int) -> tuple[int, int]:
    h, w = image_size(p)
    if h < 1 or w < 1:
        raise DataError(f"{p}: image has zero size ({w}x{h})")
    if h * w > max_pixels:
        raise DataError(
            f"{p}: image is {w}x{h} = {h * w:,} pixels, more than the limit of {max_pixels:,}; "
            "resize it first"
        )
    return h, w


def _read_bytes(p: Path) -> np.ndarray:
    """The file's bytes for ``cv2.imdecode``: Python opens the file, so no path (a name with bytes that
    are not UTF-8 among them) ever reaches OpenCV's own file handling, where such names crashed."""
    try:
        return np.frombuffer(p.read_bytes(), np.uint8)
    except IsADirectoryError:
        raise DataError(f"{p}: is a folder, expected an image file") from None
    except FileNotFoundError:
        raise DataError(f"{p}: file not found") from None
    except OSError as e:
        raise DataError(f"{p}: cannot read it ({e.strerror})") from None


def _is_palette_png(data: np.ndarray) -> bool:
    """PNG colour type 3 (indexed): the IHDR byte 25 of the file."""
    return data.size > 25 and bytes(data[:8]) == b"\x89PNG\r\n\x1a\n" and int(data[25]) == 3


def _palette_indices(p: Path, data: np.ndarray) -> np.ndarray:
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data.tobytes())) as im:
            return np.array(im, dtype=np.uint8)
    except Exception as e:  # noqa: BLE001 - PIL raises many types for a corrupt file
        raise DataError(f"{p}: could not decode the palette PNG label ({e})") from e


def read_image(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read a colour image as HxWx3 uint8 **BGR** (OpenCV order). Default ``max_pixels`` 64 M."""
    import cv2

    p = Path(path)
    _check_size(p, max_pixels)
    img = cv2.imdecode(_read_bytes(p), cv2.IMREAD_COLOR)
    if img is None:  # cv2 returns None instead of raising
        raise DataError(f"{p}: OpenCV could not decode the image")
    return img


def read_label(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read a label map as HxW uint8 class ids. Rejects colour (RGB/palette-as-RGB) and JPEG labels."""
    import cv2

    p = Path(path)
    if p.suffix.lower() in (".jpg", ".jpeg"):
        raise DataError(f"{p}: labels must be lossless single-channel images (PNG), found JPEG")
    _check_size(p, max_pixels)
    data = _read_bytes(p)
    if _is_palette_png(data):  # OpenCV expands a palette PNG to BGR colours: its indices are the class ids
        return _palette_indices(p, data)
    lab = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if lab is None:
        raise DataError(f"{p}: OpenCV could not decode the label")
    if lab.ndim == 3:
        if (
            lab.shape[2] >= 3
            and np.array_equal(lab[..., 0], lab[..., 1])
            and np.array_equal(lab[..., 1], lab[..., 2])
        ):
            lab = lab[..., 0]
        else:
            raise DataError(
                f"{p}: label has {lab.shape[2]} colour channels; expected one channel of class ids "
                "(convert colour labels to ids first)"
            )
    if lab.dtype != np.uint8:
        if lab.max(initial=0) > 255:
            raise DataError(f"{p}: label values up to {lab.max()} do not fit class ids 0..255")
        lab = lab.astype(np.uint8)
    return lab
