"""Datasets of (image, label) pairs: list files (CamVid layout), Cityscapes, folders of pairs.

Items are raw arrays: ``(image HxWx3 uint8 BGR, label HxW uint8 class ids)``. Training transforms
and the card-driven ``preprocess`` turn them into tensors later.

Labels outside [0, num_classes) other than the ignore id are an **error** by default
(``bad_labels="error"``); ``bad_labels="ignore"`` maps them to the ignore id and counts them.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from edgeseg.data._info import (  # noqa: F401 - the class tables, re-exported
    CAMVID,
    CAMVID_CLASSES,
    CAMVID_PALETTE,
    CITYSCAPES,
    CITYSCAPES_CLASSES,
    CITYSCAPES_PALETTE,
    DatasetInfo,
)
from edgeseg.data.image import read_image, read_label
from edgeseg.errors import DataError


def resolve_inside(root: Path, rel: str, listfile: Path, lineno: int) -> Path:
    """Resolve list entry ``rel`` under ``root``; refuse absolute paths, ``..`` and symlinks pointing out."""
    if os.path.isabs(rel):
        raise DataError(f"{listfile}:{lineno}: absolute path {rel!r}; paths must be relative to {root}")
    p = (root / rel).resolve()
    if root.resolve() not in p.parents:
        raise DataError(f"{listfile}:{lineno}: path {rel!r} escapes the dataset root {root}")
    return p


class PairDataset:
    """A list of (image path, label path) pairs with validation on access.

    ``bad_labels``: "error" (default) raises on label ids outside [0, num_classes) that are not
    ``info.ignore_index``; "ignore" maps them to the ignore id and counts them in ``bad_label_pixels``.
    """

    def __init__(
        self,
        pairs: Sequence[tuple[Path, Path]],
        info: DatasetInfo,
        *,
        bad_labels: str = "error",
        description: str = "",
    ) -> None:
        if not pairs:
            raise DataError(f"{description or 'dataset'}: no image/label pairs found (empty list)")
        if bad_labels not in ("error", "ignore"):
            raise ValueError("bad_labels must be 'error' or 'ignore'")
        self.pairs = list(pairs)
        self.info = info
        self.bad_labels = bad_labels
        self.description = description
        self.bad_label_pixels = 0

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        img_path, lab_path = self.pairs[i]
        img = read_image(img_path)
        lab = read_label(lab_path)
        if img.shape[:2] != lab.shape[:2]:
            raise DataError(
                f"{lab_path}: label is {lab.shape[1]}x{lab.shape[0]} but its image {img_path.name} is "
                f"{img.shape[1]}x{img.shape[0]}; they must match"
            )
        return img, self.check_label(lab, lab_path)

    def check_label(self, lab: np.ndarray, where: Path | str) -> np.ndarray:
        bad = (lab >= self.info.num_classes) & (lab != self.info.ignore_index)
        n = int(bad.sum())
        if n:
            vals = sorted(set(np.unique(lab[bad]).tolist()))[:8]
            if self.bad_labels == "error":
                raise DataError(
                    f"{where}: label ids {vals} outside 0..{self.info.num_classes - 1} "
                    f"(ignore id {self.info.ignore_index}); fix the labels or pass --bad-labels ignore"
                )
            self.bad_label_pixels += n
            warnings.warn(f"{where}: {n} pixels with label ids {vals} mapped to ignore", stacklevel=2)
            lab = np.where(bad, self.info.ignore_index, lab).astype(np.uint8)
        return lab

    def image_paths(self) -> list[Path]:
        return [p for p, _ in self.pairs]


def read_list(listfile: str | os.PathLike, root: str | os.PathLike | None = None) -> list[tuple[Path, Path]]:
    """Parse an ``image label`` list file; paths relative to ``root`` (default: the list's folder)."""
    lf = Path(listfile)
    if not lf.is_file():
        raise DataError(f"{lf}: list file not found")
    base = Path(root) if root is not None else lf.parent
    pairs = []
    for n, line in enumerate(lf.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise DataError(f"{lf}:{n}: expected 'image label', found {line!r}")
        img, lab = (resolve_inside(base, s, lf, n) for s in parts)
        for p in (img, lab):
            if not p.is_file():
                raise DataError(f"{lf}:{n}: file not found: {p}")
        pairs.append((img, lab))
    if not pairs:
        raise DataError(f"{lf}: the list is empty (expected lines of 'image label')")
    return pairs


def camvid(root: str | os.PathLike, split: str = "train", *, bad_labels: str = "error") -> PairDataset:
    """CamVid 11-class from ``root/{split}.txt`` (split: train, val, test, or trainval)."""
    r = Path(root)
    splits = ["train", "val"] if split == "trainval" else [split]
    pairs: list[tuple[Path, Path]] = []
    for s in splits:
        pairs += read_list(r / f"{s}.txt", r)
    return PairDataset(pairs, CAMVID, bad_labels=bad_labels, description=f"camvid:{r} [{split}]")


def cityscapes(root: str | os.PathLike, split: str = "train", *, bad_labels: str = "error") -> PairDataset:
    """Cityscapes ``leftImg8bit/{split}/*/*_leftImg8bit.png`` with ``gtFine/..._gtFine_labelTrainIds.png``."""
    r = Path(root)
    imgs = sorted((r / "leftImg8bit" / split).glob("*/*_leftImg8bit.png"))
    pairs = []
    for img in imgs:
        city = img.parent.name
        stem = img.name[: -len("_leftImg8bit.png")]
        lab = r / "gtFine" / split / city / f"{stem}_gtFine_labelTrainIds.png"
        if not lab.is_file():
            raise DataError(
                f"{img}: its label {lab} is missing (generate labelTrainIds with cityscapesscripts)"
            )
        pairs.append((img, lab))
    return PairDataset(pairs, CITYSCAPES, bad_labels=bad_labels, description=f"cityscapes:{r} [{split}]")


def folder(
    root: str | os.PathLike, split: str = "train", *, info: DatasetInfo = CAMVID, bad_labels: str = "error"
) -> PairDataset:
    """Folder of pairs: ``root/{split}/images/X.(png|jpg)`` with ``root/{split}/labels/X.png``.

    When ``root/{split}`` does not exist, ``root/images`` and ``root/labels`` are used.
    """
    r = Path(root)
    base = r / split if (r / split).is_dir() else r
    imgs = sorted(
        p for p in (base / "images").glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp")
    )
    pairs = []
    for img in imgs:
        lab = base / "labels" / (img.stem + ".png")
        if not lab.is_file():
            raise DataError(f"{img}: its label {lab} is missing")
        pairs.append((img, lab))
    return PairDataset(pairs, info, bad_labels=bad_labels, description=f"folder:{base}")


def open_dataset(
    spec: str, split: str = "train", *, bad_labels: str = "error", size: tuple[int, int] | None = None
):
    """Open a dataset from a CLI spec: ``camvid:PATH``, ``cityscapes:PATH``, ``folder:PATH``, or
    ``synthetic[:N]`` (N procedural street scenes, default 64 train / 16 val, at ``size``)."""
    kind, _, path = spec.partition(":")
    if kind == "synthetic":
        from edgeseg.data.synthetic import SyntheticScenes

        if path and not path.isdigit():
            raise DataError(
                f"dataset spec {spec!r}: synthetic:N expects a whole number of scenes N, found {path!r}"
            )
        n = int(path) if path else (64 if split == "train" else 16)
        seed = {"train": 0, "val": 1, "test": 2}.get(split, 3)
        return SyntheticScenes(num_images=n, size=size or (120, 160), seed=seed)
    if not path:
        raise DataError(
            f"dataset spec {spec!r}: expected KIND:PATH (camvid:, cityscapes:, folder:) or synthetic[:N]"
        )
    openers = {"camvid": camvid, "cityscapes": cityscapes, "folder": folder}
    if kind not in openers:
        raise DataError(
            f"dataset spec {spec!r}: unknown kind {kind!r}; expected one of camvid, cityscapes, "
            "folder, synthetic"
        )
    if not Path(path).is_dir():
        raise DataError(f"dataset spec {spec!r}: folder {path} not found")
    return openers[kind](path, split, bad_labels=bad_labels)
