"""Per-layer INT8 sensitivity, scored against the FP32 model's own predictions.

Each unit (:func:`edgeseg.quant.mixed.units`) is scored on a few frames by ``mIoU@FP32``: the mean
IoU of the INT8 model's label map against the FP32 model's label map (at the logits' resolution), and
per class the same IoU; so the pass measures quantization noise, not label noise, and needs no labels.
A drop is in points: ``100 * (1 - IoU@FP32)``.

Modes: ``"isolated"`` (default) quantizes that unit alone (everything else float); ``"leave-out"``
quantizes everything but that unit (its score is what leaving it in float recovers). Both reuse one
calibration (the model's ranges) and batch the frames. Results are cached per unit in a JSON file
keyed by the model's weights and ranges, the frames and the mode, so a rerun (or a resumed one) is cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn

from edgeseg.errors import QuantizationError
from edgeseg.quant.mixed import units as all_units
from edgeseg.quant.mixed import with_float_layers

#: Frames the sensitivity pass scores on by default, and frames per forward batch.
DEFAULT_FRAMES = 16
DEFAULT_BATCH = 4
MODES = ("isolated", "leave-out")
#: A class the FP32 model predicts on fewer pixels than this (over the frames) has no per-class budget.
MIN_CLASS_PIXELS = 1000
CACHE_VERSION = 2  # 2: a float conv's input quantizer left on residual Adds only goes


@dataclass(frozen=True)
class Agreement:
    """How an INT8 model's labels agree with the FP32 model's: ``miou`` (0..1, over the classes the FP32
    model predicts), ``per_class`` (IoU or None for a class FP32 never predicts), ``pixels`` (FP32
    pixels per class)."""

    miou: float
    per_class: tuple[float | None, ...]
    pixels: tuple[int, ...]

    def drop(self) -> float:
        """Mean drop in points (100 * (1 - mIoU@FP32))."""
        return 100.0 * (1.0 - self.miou)

    def class_drops(self, *, min_pixels: int = MIN_CLASS_PIXELS) -> dict[int, float]:
        """{class: drop in points} for the classes with at least ``min_pixels`` FP32 pixels (default 1000)."""
        return {
            c: 100.0 * (1.0 - v)
            for c, (v, n) in enumerate(zip(self.per_class, self.pixels))
            if v is not None and n >= min_pixels
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "miou": round(self.miou, 6),
            "per_class": [None if v is None else round(v, 6) for v in self.per_class],
            "pixels": list(self.pixels),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Agreement":
        return cls(float(d["miou"]), tuple(d["per_class"]), tuple(int(n) for n in d["pixels"]))


def frame_batches(
    dataset, card, *, frames: int = DEFAULT_FRAMES, batch: int = DEFAULT_BATCH
) -> list[np.ndarray]:
    """The first ``frames`` (default 16) images of ``dataset``, preprocessed at the card's input size, in
    batches of ``batch`` (default 4). The caller picks the split (val: never choose on test)."""
    from edgeseg.data.preprocess import preprocess

    if frames < 1 or batch < 1:
        raise QuantizationError(f"sensitivity frames and batch must be >= 1, found {frames} and {batch}")
    n = min(len(dataset), frames)
    if n == 0:
        raise QuantizationError("the sensitivity frames: the dataset is empty")
    imgs = [dataset[i][0] for i in range(n)]
    size = tuple(card.input_size)
    return [preprocess(imgs[i : i + batch], card, size=size) for i in range(0, n, batch)]


@torch.inference_mode()
def predict(
    model: nn.Module, batches: Sequence[np.ndarray], *, device: str | torch.device = "cpu"
) -> np.ndarray:
    """Arg-max label maps (N, h, w) of ``model`` at its logits' resolution, uint8."""
    model.eval()
    out = [model(torch.from_numpy(b).to(device)).argmax(1).to(torch.uint8).cpu().numpy() for b in batches]
    return np.concatenate(out)


def agreement(pred: np.ndarray, ref: np.ndarray, *, num_classes: int) -> Agreement:
    """IoU of ``pred`` against the reference labels ``ref`` (the FP32 model's), per class and mean."""
    if pred.shape != ref.shape:
        raise QuantizationError(f"prediction shape {pred.shape} does not match the FP32 one {ref.shape}")
    idx = ref.astype(np.int64).ravel() * num_classes + pred.astype(np.int64).ravel()
    cm = np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
    tp = np.diag(cm).astype(np.float64)
    pixels = cm.sum(1)
    denom = cm.sum(0) + pixels - tp
    per = [float(tp[c] / denom[c]) if pixels[c] > 0 else None for c in range(num_classes)]
    present = [v for v in per if v is not None]
    miou = float(np.mean(present)) if present else float("nan")
    return Agreement(miou, tuple(per), tuple(int(n) for n in pixels))


def fingerprint(qmodel: nn.Module, batches: Sequence[np.ndarray], *, extra: str = "") -> str:
    """sha256 of the model's tensors (weights, biases, ranges), the frames and ``extra``."""
    h = hashlib.sha256(f"v{CACHE_VERSION}|{extra}".encode())
    for k, v in sorted(qmodel.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    for b in batches:
        h.update(np.ascontiguousarray(b).tobytes())
    return h.hexdigest()


def _biases_digest(biases: dict[str, torch.Tensor | None] | None) -> str:
    """A short digest of the float biases (they change what a float unit computes: part of the cache key)."""
    if biases is None:
        return "-"
    h = hashlib.sha256()
    for k in sorted(biases):
        b = biases[k]
        h.update(k.encode())
        h.update(b"none" if b is None else b.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _load_cache(path: Path | None, key: str) -> dict[str, Any]:
    if path is None or not path.is_file():
        return {}
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return d.get("units", {}) if d.get("key") == key else {}


def _save_cache(path: Path | None, key: str, done: dict[str, Any], meta: dict[str, Any]) -> None:
    if path is None:
        return
    from edgeseg._io import atomic_write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"key": key, **meta, "units": done})


def default_cache_dir() -> Path:
    """$EDGESEG_CACHE, else $XDG_CACHE_HOME/edgeseg, else ~/.cache/edgeseg; sensitivity files go in
    sensitivity/."""
    base = os.environ.get("EDGESEG_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "edgeseg"
    )
    return Path(base) / "sensitivity"


def layer_sensitivity(
    qmodel: fx.GraphModule,
    float_model: nn.Module,
    *,
    batches: Sequence[np.ndarray],
    num_classes: int,
    mode: str = "isolated",
    layers: Sequence[str] | None = None,
    biases: dict[str, torch.Tensor | None] | None = None,
    cache: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score every unit of the calibrated fake-quant ``qmodel`` (or ``layers``, default all) on ``batches``.

    ``mode``: "isolated" (default; the unit alone in INT8) or "leave-out" (all but the unit in INT8).
    ``biases``: float biases for units left in float (see ``with_float_layers``). ``cache`` (default
    none): a JSON file of per-unit results, reused when its key matches. Returns {"mode", "frames",
    "fp32_pixels", "int8" (the all-INT8 Agreement as a dict), "units": {unit: Agreement dict + "seconds"},
    "seconds"}.
    """
    from edgeseg._progress import progress_bar

    if mode not in MODES:
        raise QuantizationError(f"sensitivity mode {mode!r}: expected one of {', '.join(MODES)}")
    every = all_units(qmodel)
    todo = list(every if layers is None else layers)
    bad = sorted(set(todo) - set(every))
    if bad:
        raise QuantizationError(f"sensitivity: {bad[:3]} are not units of this model")
    t0 = time.perf_counter()
    key = fingerprint(qmodel, batches, extra=f"{mode}|{num_classes}|{_biases_digest(biases)}")
    path = Path(cache) if cache is not None else None
    done = _load_cache(path, key)
    if done and log:
        log(f"sensitivity: {len(set(done) & set(todo))} of {len(todo)} units from the cache {path}")
    ref = predict(float_model.to(device), batches, device=device)
    full = done.get("__int8__")
    if full is None:
        full = agreement(predict(qmodel, batches, device=device), ref, num_classes=num_classes).to_dict()
        done["__int8__"] = full
    meta = {"mode": mode, "frames": int(ref.shape[0])}
    for unit in progress_bar(
        todo, desc=f"sensitivity ({mode})", unit="layer", disable=not progress, leave=False
    ):
        if unit in done:
            continue
        t = time.perf_counter()
        floats = [u for u in every if u != unit] if mode == "isolated" else [unit]
        mixed = with_float_layers(qmodel, floats, biases=biases)
        a = agreement(predict(mixed, batches, device=device), ref, num_classes=num_classes)
        done[unit] = {**a.to_dict(), "seconds": round(time.perf_counter() - t, 3)}
        _save_cache(path, key, done, meta)
    _save_cache(path, key, done, meta)
    return {
        **meta,
        "fp32_pixels": np.bincount(ref.ravel(), minlength=num_classes).tolist(),
        "int8": full,
        "units": {u: done[u] for u in todo},
        "seconds": round(time.perf_counter() - t0, 2),
    }
