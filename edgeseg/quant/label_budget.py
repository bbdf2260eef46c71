"""What the fallback search's budget is measured against: the FP32 model's labels, or the ground truth.

Two references (``REFERENCES``):

- ``"fp32"`` (default): ``mIoU@FP32``, the INT8 model's label map against the FP32 model's own
  (:func:`edgeseg.quant.sensitivity.agreement`); a drop is ``100 * (1 - IoU@FP32)``. It bounds
  quantization noise, needs no labels, and is strict: a pixel INT8 changes counts even when FP32 had it
  wrong.
- ``"labels"``: the drop of label mIoU, the figure ``edgeseg eval`` prints: FP32's mIoU against the
  ground truth minus INT8's, in points, and per class the same IoU difference (:class:`LabelDrop`). It
  can be negative (INT8 better on these frames). Classes with fewer than ``min_class_pixels`` labelled
  pixels in the frames have no per-class budget.

The per-layer sensitivity ranking is always scored against FP32 (it ranks quantization noise); only the
budget the search stops at follows the reference. :func:`make_scorer` gives the search one function:
label maps of a candidate model -> its score (``drop()``, ``class_drops()``, ``miou``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from edgeseg.errors import QuantizationError

#: The budget's references: agreement with the FP32 model's labels, or label mIoU against the ground truth.
REFERENCES = ("fp32", "labels")
#: What each reference is, in a card record and in log lines.
REFERENCE_LABEL = {
    "fp32": "mIoU@FP32 (the FP32 model's own labels)",
    "labels": "label mIoU (against the ground truth; FP32's minus INT8's)",
}


def check_reference(reference: Any) -> str:
    """``reference`` if it is one of ``REFERENCES``, else a one-line QuantizationError."""
    if reference not in REFERENCES:
        raise QuantizationError(
            f"--drop-reference: expected one of {', '.join(REFERENCES)}, found {reference!r}"
        )
    return reference


def _ious(pred: np.ndarray, gt: np.ndarray, *, num_classes: int, ignore_index: int) -> tuple[list, list]:
    """(per-class IoU or None for a class with no labelled pixel, labelled pixels per class)."""
    from edgeseg.train.metrics import ConfusionMatrix

    cm = ConfusionMatrix(num_classes, ignore_index=ignore_index)
    cm.update(pred, gt)
    iou = cm.iou()
    return [None if np.isnan(v) else float(v) for v in iou], [int(n) for n in cm.mat.sum(1)]


@dataclass(frozen=True)
class LabelDrop:
    """A candidate INT8 model against the ground truth, beside the FP32 model on the same frames:
    ``miou`` / ``per_class`` (INT8's, 0..1), ``fp32_miou`` / ``fp32_per_class``, ``pixels`` (labelled
    pixels per class)."""

    miou: float
    per_class: tuple[float | None, ...]
    fp32_miou: float
    fp32_per_class: tuple[float | None, ...]
    pixels: tuple[int, ...]

    def drop(self) -> float:
        """FP32's label mIoU minus INT8's, in points (negative: INT8 is better on these frames)."""
        return 100.0 * (self.fp32_miou - self.miou)

    def class_drops(self, *, min_pixels: int) -> dict[int, float]:
        """{class: FP32's IoU minus INT8's, in points} for classes with >= ``min_pixels`` labelled pixels."""
        return {
            c: 100.0 * (f - v)
            for c, (v, f, n) in enumerate(zip(self.per_class, self.fp32_per_class, self.pixels))
            if v is not None and f is not None and n >= min_pixels
        }

    def headline(self) -> dict[str, Any]:
        return {"label_miou": round(self.miou, 6), "fp32_label_miou": round(self.fp32_miou, 6)}


def label_maps(dataset, *, frames: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """The ground-truth label maps (N, H, W) of the first ``frames`` items of ``dataset`` (the frames
    ``sensitivity.frame_batches`` takes), resized (nearest) to ``size`` (H, W) when given and different."""
    import cv2

    n = min(len(dataset), frames)
    out = []
    for i in range(n):
        lab = np.asarray(dataset[i][1])
        if size is not None and lab.shape[:2] != tuple(size):
            lab = cv2.resize(lab, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
        out.append(lab)
    return np.stack(out)


def _fit(gt: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``gt`` resized (nearest) to the prediction's (N, h, w) when the logits are smaller than the input."""
    if gt.shape == shape:
        return gt
    import cv2

    if gt.shape[0] != shape[0]:
        raise QuantizationError(f"{gt.shape[0]} label maps for {shape[0]} predictions")
    h, w = shape[1:]
    return np.stack([cv2.resize(g, (w, h), interpolation=cv2.INTER_NEAREST) for g in gt])


def make_scorer(
    fp32_pred: np.ndarray,
    *,
    num_classes: int,
    reference: str = "fp32",
    labels: np.ndarray | None = None,
    ignore_index: int = 255,
) -> Callable[[np.ndarray], Any]:
    """pred -> score of a candidate's label maps (``predict`` output), against ``reference`` (default
    "fp32": ``agreement`` with ``fp32_pred``; "labels": a :class:`LabelDrop` against ``labels``, the
    ground truth of the same frames, with ``ignore_index`` (default 255) pixels left out)."""
    from edgeseg.quant.sensitivity import agreement

    check_reference(reference)
    if reference == "fp32":
        return lambda pred: agreement(pred, fp32_pred, num_classes=num_classes)
    if labels is None:
        raise QuantizationError("--drop-reference labels needs the frames' label maps (a labelled val split)")
    gt = _fit(np.asarray(labels), tuple(fp32_pred.shape))
    known = (gt != ignore_index) & (gt < num_classes)
    if not known.any():
        raise QuantizationError(
            "--drop-reference labels: the scored frames have no labelled pixel (every label is the ignore "
            f"id {ignore_index} or out of range); use --drop-reference fp32"
        )
    fp32_iou, pixels = _ious(fp32_pred, gt, num_classes=num_classes, ignore_index=ignore_index)
    fp32_miou = float(np.mean([v for v in fp32_iou if v is not None]))

    def score(pred: np.ndarray) -> LabelDrop:
        if pred.shape != gt.shape:
            raise QuantizationError(f"prediction shape {pred.shape} does not match the labels' {gt.shape}")
        iou, _ = _ious(pred, gt, num_classes=num_classes, ignore_index=ignore_index)
        miou = float(np.mean([v for v in iou if v is not None]))
        return LabelDrop(miou, tuple(iou), fp32_miou, tuple(fp32_iou), tuple(pixels))

    return score


def describe(score: Any) -> dict[str, Any]:
    """The headline figures of a score for the card: mIoU@FP32, or INT8's and FP32's label mIoU."""
    if isinstance(score, LabelDrop):
        return score.headline()
    return {"miou_at_fp32": round(score.miou, 6)}


def summary_line(scores: Sequence[Any], reference: str) -> str:
    """'X -> Y points of <reference>' for a log line."""
    a, b = scores
    return f"{a.drop():.2f} -> {b.drop():.2f} points of {REFERENCE_LABEL[reference]}"
