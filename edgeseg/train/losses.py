"""Losses and class weights (CGNet recipe: weighted cross-entropy, weights 1 / ln(1.10 + p))."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from edgeseg._io import atomic_write_json


def class_histogram(labels: Sequence[np.ndarray], num_classes: int) -> np.ndarray:
    hist = np.zeros(num_classes, np.int64)
    for lab in labels:
        hist += np.bincount(lab.reshape(-1), minlength=256)[:num_classes]
    return hist


def cgnet_class_weights(hist: np.ndarray, *, c: float = 1.10) -> np.ndarray:
    """1 / ln(c + p_k) with p_k the class's share of labelled pixels (default c = 1.10)."""
    p = hist / max(hist.sum(), 1)
    return (1.0 / np.log(c + p)).astype(np.float32)


def cached_class_weights(dataset, *, cache: Path | None, progress: bool = True) -> np.ndarray:
    """Class weights of a dataset's labels, cached as JSON keyed by the dataset's identity."""
    key = hashlib.sha256(
        (
            getattr(dataset, "description", "")
            + "|"
            + "|".join(str(p) for p in getattr(dataset, "pairs", []))
        ).encode()
    ).hexdigest()[:16]
    if cache is not None and cache.is_file():
        try:
            d = json.loads(cache.read_text())
            if d.get("key") == key:
                return np.asarray(d["weights"], np.float32)
        except (ValueError, KeyError):
            pass
    from edgeseg._progress import progress_bar

    n = dataset.info.num_classes
    hist = np.zeros(n, np.int64)
    for i in progress_bar(range(len(dataset)), desc="class weights", disable=not progress, leave=False):
        hist += class_histogram([dataset[i][1]], n)
    w = cgnet_class_weights(hist)
    if cache is not None:
        atomic_write_json(cache, {"key": key, "histogram": hist.tolist(), "weights": w.tolist()})
    return w


def weighted_ce(
    logits: torch.Tensor, target: torch.Tensor, *, weight: torch.Tensor | None, ignore_index: int
) -> torch.Tensor:
    """Cross-entropy with class weights and the ignore id (mean over labelled pixels, weighted).

    A batch without one labelled pixel (all ``ignore_index``: an unlabelled frame, a crop of a void
    region) gives 0 with zero gradients, not the NaN of a mean over no pixel that would stop training
    as if it had diverged."""
    if not bool((target != ignore_index).any()):
        return logits.float().sum() * 0.0
    return F.cross_entropy(logits.float(), target.long(), weight=weight, ignore_index=ignore_index)
