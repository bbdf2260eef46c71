"""Evaluate any Runner on a dataset at full resolution: confusion matrix, per-class IoU, mIoU."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from edgeseg.segment import logits_to_labels
from edgeseg.train.metrics import ConfusionMatrix


def evaluate(
    runner,
    dataset,
    *,
    size: tuple[int, int] | None = None,
    max_frames: int | None = None,
    progress: bool = True,
    desc: str = "eval",
) -> dict[str, Any]:
    """Run ``runner`` over ``dataset`` (items: BGR image, label) and return metrics: the one evaluator
    ``edgeseg eval``, training's validation, quantization and the benchmark share.

    The runner's card must name as many classes as the dataset. Frames are preprocessed from the
    runner's card at ``size`` (H, W; default None: the runner's fixed input size, else each frame's
    own size); predictions are resized (nearest) to each label's size. Pixels equal to the dataset's
    ignore id (the card's when the dataset has no info) are not counted. Default: all frames.
    Returns ``ConfusionMatrix.to_dict`` plus ``frames``, ``ignore_index``, ``nonfinite_frames``
    (frames whose logits had NaN/Inf), ``seconds`` and ``dataset``."""
    from edgeseg._progress import progress_bar
    from edgeseg.data.preprocess import preprocess
    from edgeseg.errors import EdgesegError

    card = runner.card
    info = getattr(dataset, "info", None)
    if info is not None and card.num_classes != info.num_classes:
        raise EdgesegError(
            f"model predicts {card.num_classes} classes but the dataset has {info.num_classes} "
            f"({getattr(dataset, 'description', '') or type(dataset).__name__})"
        )
    ignore = info.ignore_index if info is not None else card.ignore_index
    cm = ConfusionMatrix(card.num_classes, ignore_index=ignore)
    n = len(dataset) if max_frames is None else min(len(dataset), max_frames)
    hw = size or runner.input_size
    t0 = time.perf_counter()
    nonfinite = 0
    for i in progress_bar(range(n), desc=desc, disable=not progress, leave=False, unit="img"):
        img, lab = dataset[i]
        logits = runner.infer(preprocess([img], card, size=hw) if hw is not None else preprocess(img, card))
        nonfinite += int(not np.isfinite(logits).all())
        cm.update(logits_to_labels(logits, lab.shape[:2])[0], lab)
    out = cm.to_dict(card.class_names)
    out.update(
        frames=n,
        ignore_index=ignore,
        nonfinite_frames=nonfinite,
        seconds=round(time.perf_counter() - t0, 2),
        dataset=getattr(dataset, "description", "") or type(dataset).__name__,
    )
    return out


def format_table(result: dict[str, Any]) -> str:
    """Per-class IoU table, then mIoU and pixel accuracy, as fixed-width text. A class with no labelled
    pixel prints as "absent" and is not part of the mIoU (see ConfusionMatrix)."""
    lines = [f"{'class':<14} {'IoU':>7}"]
    for name, v in result["per_class_iou"].items():
        lines.append(f"{name:<14} {' absent' if v is None else f'{100 * v:6.2f}%'}")
    lines.append("-" * 22)
    lines.append(f"{'mIoU':<14} {100 * result['miou']:6.2f}%")
    lines.append(f"{'pixel acc':<14} {100 * result['pixel_accuracy']:6.2f}%")
    return "\n".join(lines)
