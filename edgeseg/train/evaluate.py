"""Evaluate any Runner on a dataset at full resolution: confusion matrix, per-class IoU, mIoU."""

from __future__ import annotations

import time
from typing import Any

from edgeseg.segment import segment
from edgeseg.train.metrics import ConfusionMatrix


def evaluate(runner, dataset, *, max_frames: int | None = None, progress: bool = True, desc: str = "eval") -> dict[str, Any]:
    """Run ``runner`` over ``dataset`` (items: BGR image, label) and return metrics.

    The runner's card must name as many classes as the dataset. Frames are preprocessed from the
    runner's card; predictions are resized (nearest) to each label's size. Default: all frames.
    """
    from edgeseg._progress import progress_bar

    from edgeseg.errors import EdgesegError

    card = runner.card
    info = dataset.info
    if card.num_classes != info.num_classes:
        raise EdgesegError(
            f"model predicts {card.num_classes} classes but the dataset has {info.num_classes} ({dataset.description})"
        )
    cm = ConfusionMatrix(card.num_classes, ignore_index=info.ignore_index)
    n = len(dataset) if max_frames is None else min(len(dataset), max_frames)
    t0 = time.perf_counter()
    for i in progress_bar(range(n), desc=desc, disable=not progress, leave=False, unit="img"):
        img, lab = dataset[i]
        pred = segment(runner, [img])[0]
        cm.update(pred, lab)
    out = cm.to_dict(card.class_names)
    out.update(frames=n, seconds=round(time.perf_counter() - t0, 2), dataset=getattr(dataset, "description", ""))
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
