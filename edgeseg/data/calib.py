"""Calibration sets: the frames INT8 calibration sees, preprocessed exactly as at deployment.

A source is one of

- a list file: one image path per line, or ``image label`` pairs (the label is ignored); ``#``
  comments and blank lines skipped; paths relative to the list's folder and required to stay
  inside it (no absolute paths, no ``..`` or symlinks out);
- a folder of images (``.png .jpg .jpeg .bmp``, not recursive, sorted by name);
- a dataset spec read through :func:`edgeseg.data.datasets.open_dataset`, split ``train``:
  ``camvid:PATH``, ``cityscapes:PATH``, ``folder:PATH`` or ``synthetic[:N]``.

At most ``num`` frames are used (default 256): when more are available an evenly spaced subset,
deterministic for a given ``seed`` (seed 0 starts at the first frame; another seed starts 1 or more frames
later, within one stride). Frames are preprocessed with :func:`edgeseg.data.preprocess.preprocess` from the
model card at ``size`` (default ``card.input_size``); frames of another size are resized (bilinear) with ONE
warning, never silently.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np

from edgeseg.card import ModelCard
from edgeseg.data.datasets import resolve_inside
from edgeseg.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
DATASET_KINDS = ("camvid", "cityscapes", "folder", "synthetic")
DEFAULT_NUM = 256


def _read_list(lf: Path) -> list[Path]:
    out = []
    try:
        text = lf.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{lf}: cannot read the calibration list ({e.__class__.__name__})") from e
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) > 2:
            raise DataError(f"{lf}:{n}: expected 'image' or 'image label', found {line!r}")
        p = resolve_inside(lf.parent, parts[0], lf, n)
        if not p.is_file():
            raise DataError(f"{lf}:{n}: image not found: {p}")
        out.append(p)
    return out


def _is_spec(source: str) -> bool:
    kind, sep, _ = source.partition(":")
    return kind in DATASET_KINDS and (bool(sep) or kind == "synthetic")


def _subset(total: int, num: int, seed: int) -> list[int]:
    if total <= num:
        return list(range(total))
    stride = total / num
    offset = 0 if seed == 0 else int(np.random.default_rng(seed).integers(1, max(2, int(np.ceil(stride)))))
    return [min(total - 1, int(offset + i * stride)) for i in range(num)]


class CalibrationSet:
    """Frames for INT8 calibration. Defaults: ``num`` 256, ``batch`` 1, ``size`` card.input_size, seed 0."""

    def __init__(
        self,
        source: str | os.PathLike,
        card: ModelCard,
        *,
        num: int = DEFAULT_NUM,
        batch: int = 1,
        size: tuple[int, int] | None = None,
        seed: int = 0,
    ) -> None:
        if num < 1:
            raise DataError(f"calibration set: num must be >= 1, found {num}")
        if batch < 1:
            raise DataError(f"calibration set: batch must be >= 1, found {batch}")
        self.source = str(source)
        self.card = card
        self.num = int(num)
        self.batch = int(batch)
        self.size = tuple(int(v) for v in (size or card.input_size))
        self.seed = int(seed)
        self._dataset = None
        self._paths: list[Path] = []
        self._warned = False
        self._fingerprint: str | None = None

        p = Path(source)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise DataError(f"{p}: calibration folder has no images ({', '.join(IMAGE_SUFFIXES)})")
            candidates = found
        elif p.is_file():
            candidates = _read_list(p)
            if not candidates:
                raise DataError(f"{p}: calibration list is empty (expected one image path per line)")
        elif isinstance(source, str) and _is_spec(source):
            from edgeseg.data.datasets import open_dataset

            self._dataset = open_dataset(source, "train", size=self.size)
            if len(self._dataset) == 0:
                raise DataError(f"calibration set {source}: the dataset has no frames")
            self._index = _subset(len(self._dataset), self.num, self.seed)
            paths = getattr(self._dataset, "image_paths", None)
            allp = paths() if callable(paths) else []
            if len(allp) == len(self._dataset):  # generated datasets have no files
                self._paths = [Path(allp[i]) for i in self._index]
            return
        else:
            raise DataError(
                f"calibration source {source}: not found (expected a list file, a folder of images, "
                f"or a dataset spec {'/'.join(k + ':' for k in DATASET_KINDS)})"
            )
        self._paths = [candidates[i] for i in _subset(len(candidates), self.num, self.seed)]
        from edgeseg.data.image import image_size

        for q in self._paths:  # header check now, before long work; decode errors surface in batches()
            image_size(q)

    def __len__(self) -> int:
        return len(self._index) if self._dataset is not None else len(self._paths)

    def __repr__(self) -> str:
        return f"CalibrationSet({self.source!r}, frames={len(self)}, batch={self.batch}, size={self.size})"

    def paths(self) -> list[Path]:
        """Image files used, in order (empty for generated datasets such as ``synthetic``)."""
        return list(self._paths)

    def frames(self) -> Iterator[np.ndarray]:
        """The frames (HxWx3 uint8 BGR) in order, decoded one at a time."""
        if self._dataset is not None:
            for i in self._index:
                yield self._dataset[i][0]
            return
        from edgeseg.data.image import read_image

        for p in self._paths:
            yield read_image(p)

    def _check_size(self, frame: np.ndarray, where: str) -> None:
        if frame.shape[:2] != self.size and not self._warned:
            self._warned = True
            warnings.warn(
                f"calibration frames are resized to {self.size[1]}x{self.size[0]} (first: {where} is "
                f"{frame.shape[1]}x{frame.shape[0]}); make sure deployment resizes the same way",
                UserWarning,
                stacklevel=3,
            )

    def batches(self) -> Iterator[np.ndarray]:
        """NCHW float32 batches of ``batch`` frames (the last one may be smaller)."""
        from edgeseg.data.preprocess import preprocess

        names = (
            [str(p) for p in self._paths]
            if self._paths
            else [f"{self.source}[{i}]" for i in range(len(self))]
        )
        buf: list[np.ndarray] = []
        for name, frame in zip(names, self.frames()):
            self._check_size(frame, name)
            buf.append(frame)
            if len(buf) == self.batch:
                yield preprocess(buf, self.card, size=self.size)
                buf = []
        if buf:
            yield preprocess(buf, self.card, size=self.size)

    def num_batches(self) -> int:
        return -(-len(self) // self.batch)

    def facts(self) -> dict:
        """Preprocessing facts that enter the fingerprint (and a card's ``calibration`` field)."""
        c = self.card
        return {
            "mean": list(c.mean),
            "std": list(c.std),
            "channel_order": c.channel_order,
            "size": list(self.size),
            "num": len(self),
            "batch": self.batch,
        }

    def fingerprint(self) -> str:
        """sha256 over the frames (file hashes, or decoded bytes for generated data) and the facts."""
        if self._fingerprint is None:
            from edgeseg._io import sha256_file

            h = hashlib.sha256()
            h.update(repr(sorted(self.facts().items())).encode())
            if self._dataset is not None and not self._paths:
                for f in self.frames():
                    h.update(str(f.shape).encode())
                    h.update(np.ascontiguousarray(f).tobytes())
            else:
                for p in self._paths:
                    h.update(sha256_file(p).encode())
            self._fingerprint = h.hexdigest()
        return self._fingerprint
