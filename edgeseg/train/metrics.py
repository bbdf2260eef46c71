"""Confusion matrix, IoU, mIoU and pixel accuracy: shared by train, eval and bench."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


class ConfusionMatrix:
    """Accumulates a ``num_classes`` x ``num_classes`` matrix (rows = ground truth, cols = prediction).

    Pixels whose label equals ``ignore_index`` or lies outside [0, num_classes) are not counted.

    A class with no labelled pixel in the evaluated set is ABSENT: its IoU is NaN here, ``None`` in
    ``to_dict`` (printed as "absent"), and it is left out of the mean IoU; it is neither 0 nor a NaN
    that poisons the mean. Pixels the model wrongly gives an absent class still count: they are
    false negatives of the classes they belong to, so those classes' IoU pays for them.
    """

    def __init__(self, num_classes: int, *, ignore_index: int = 255) -> None:
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.mat = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        pred = np.asarray(pred).reshape(-1).astype(np.int64)
        target = np.asarray(target).reshape(-1).astype(np.int64)
        if pred.shape != target.shape:
            raise ValueError(f"prediction has {pred.size} pixels, label has {target.size}")
        keep = (target != self.ignore_index) & (target >= 0) & (target < self.num_classes)
        idx = target[keep] * self.num_classes + np.clip(pred[keep], 0, self.num_classes - 1)
        self.mat += np.bincount(idx, minlength=self.num_classes**2).reshape(
            self.num_classes, self.num_classes
        )

    def merge(self, other: "ConfusionMatrix") -> None:
        self.mat += other.mat

    def iou(self) -> np.ndarray:
        """Per-class IoU = TP / (TP + FP + FN); NaN for classes absent from the labels (see the class)."""
        tp = np.diag(self.mat).astype(np.float64)
        present = self.mat.sum(1) > 0
        denom = self.mat.sum(0) + self.mat.sum(1) - tp
        return np.where(present, tp / np.maximum(denom, 1), np.nan)

    def miou(self) -> float:
        """Mean IoU over the classes present in the labels (absent ones left out); NaN when none is."""
        iou = self.iou()
        return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")

    def pixel_accuracy(self) -> float:
        total = self.mat.sum()
        return float(np.diag(self.mat).sum() / total) if total else float("nan")

    def to_dict(self, class_names: Sequence[str] | None = None) -> dict[str, Any]:
        names = list(class_names) if class_names else [str(i) for i in range(self.num_classes)]
        iou = self.iou()
        return {
            "miou": self.miou(),
            "pixel_accuracy": self.pixel_accuracy(),
            "per_class_iou": {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, iou)},
            "confusion_matrix": self.mat.tolist(),
            "pixels": int(self.mat.sum()),
        }
