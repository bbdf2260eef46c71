"""Activation range calibration: ``max``, ``percentile``, ``entropy`` (TensorRT's KL method) and ``mse``.

One pass over the calibration batches fills, for every activation quantizer, a histogram of
|x| (2048 bins whose width is fixed by the first batch; the range grows as larger values arrive,
as in NVIDIA's pytorch-quantization ``HistogramCalibrator``) and the exact running max. Each
method then picks ``amax`` from the same statistics, so comparing methods costs one pass.
Weights are always quantized per channel with their exact max (see ``fakequant``).

- ``max``: the largest |x| seen.
- ``percentile``: the value below which ``percentile`` % (default 99.99) of |x| lie.
- ``entropy``: minimises KL(reference || quantized) over candidate clip points, the algorithm of
  TensorRT's IInt8EntropyCalibrator2 (128 quantized bins, candidates from bin 128 on, the zero
  bin flattened to its neighbour's count as in NVIDIA's pytorch-quantization).
- ``mse``: minimises the mean squared quantization error of the histogram.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import torch
import torch.nn as nn

from edgeseg.errors import QuantizationError
from edgeseg.quant.fakequant import AMAX_FLOOR, QMAX, TensorQuantizer, activation_quantizers

METHODS = ("max", "percentile", "entropy", "mse")
DEFAULT_PERCENTILE = 99.99
NUM_BINS = 2048
_MAX_BINS = 8 * NUM_BINS  # merge pairs of bins beyond this (values far above the first batch's range)


@dataclass
class Histogram:
    """Histogram of |x| over [0, width * len(counts)) plus the exact max; ``where`` names the tensor."""

    where: str
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    width: float = 0.0
    amax: float = 0.0
    frames: int = 0
    zeros: float = 0.0  # values seen before the first non-zero batch fixed the bin width

    @property
    def edges(self) -> np.ndarray:
        return np.arange(len(self.counts) + 1, dtype=np.float64) * self.width

    def collect(self, x: torch.Tensor) -> None:
        if not bool(torch.isfinite(x).all()):
            bad = int((~torch.isfinite(x)).sum())
            raise QuantizationError(
                f"calibration statistics of {self.where} contain NaN/Inf "
                f"({bad} values in batch {self.frames + 1}); "
                "check the model weights and the calibration images"
            )
        a = x.detach().abs().float().flatten()
        m = float(a.max()) if a.numel() else 0.0
        self.frames += 1
        if m <= 0.0:
            if len(self.counts):
                self.counts[0] += a.numel()
            else:
                self.zeros += a.numel()
            return
        if not len(self.counts):
            self.width = m / NUM_BINS
            self.counts = np.zeros(NUM_BINS, np.float64)
            self.counts[0] += self.zeros
        if m > self.amax:
            self.amax = m
        need = int(math.ceil(m / self.width)) if m > len(self.counts) * self.width else len(self.counts)
        if need > len(self.counts):
            self.counts = np.concatenate([self.counts, np.zeros(need - len(self.counts))])
        while len(self.counts) > _MAX_BINS:
            if len(self.counts) % 2:
                self.counts = np.append(self.counts, 0.0)
            self.counts = self.counts.reshape(-1, 2).sum(1)
            self.width *= 2
        top = self.width * len(self.counts)
        h = torch.histc(a.cpu().clamp_(max=top), bins=len(self.counts), min=0.0, max=top)
        self.counts += h.double().numpy()


def _amax_percentile(h: Histogram, percentile: float) -> float:
    cdf = np.cumsum(h.counts) / h.counts.sum()
    idx = int(np.searchsorted(cdf, percentile / 100.0))
    return float(min(h.edges[min(idx + 1, len(h.counts))], h.amax))


def _amax_entropy(h: Histogram, *, start: int = 128, qbins: int = 128) -> float:
    """TensorRT entropy calibration (KL divergence) on the |x| histogram.

    The first bin's count is replaced by the second's before the search, as NVIDIA's
    pytorch-quantization does: the spike of exact zeros after ReLU (and of near-zeros after PReLU)
    would otherwise dominate the reference distribution and pull the clip point far down (the
    shipped CGNet: 10.7 -> 0.94 on one input; its val mIoU fell 19 points).
    """
    counts = h.counts.copy()
    n = len(counts)
    if n > 1:
        counts[0] = counts[1]
    if n <= start:
        return h.amax
    stride = max(1, (n - start) // 512)  # about 512 candidate clip points
    best_i, best_kl = n, math.inf
    suffix = np.concatenate([np.cumsum(counts[::-1])[::-1], [0.0]])  # suffix[i] = counts[i:].sum()
    for i in range(start, n + 1, stride):
        ref = counts[:i].copy()
        ref[i - 1] += suffix[i]
        nz = counts[:i] > 0
        d = np.minimum((np.arange(i) * qbins) // i, qbins - 1)
        tot = np.bincount(d, weights=counts[:i], minlength=qbins)
        cnt = np.bincount(d, weights=nz, minlength=qbins)
        q = np.where(nz, tot[d] / np.maximum(cnt[d], 1), 0.0)
        ps, qs = ref.sum(), q.sum()
        if ps <= 0 or qs <= 0:
            continue
        p, q = ref / ps, q / qs
        m = p > 0
        if np.any(q[m] == 0):
            continue
        kl = float(np.sum(p[m] * np.log(p[m] / q[m])))
        if kl <= best_kl:  # ties: the larger clip point, as TensorRT's last argmin
            best_i, best_kl = i, kl
    return float(min(h.edges[best_i], h.amax))


def _amax_mse(h: Histogram, *, start: int = 128) -> float:
    counts, edges = h.counts, h.edges
    centers = (edges[:-1] + edges[1:]) / 2
    n = len(counts)
    cand = edges[min(start, n) :: max(1, (n - start) // 1024)] if n > start else edges[1:]
    cand = np.unique(np.append(cand[cand > 0], edges[-1]))
    keep = counts > 0
    c, w = centers[keep], counts[keep]
    best, best_err = float(edges[-1]), math.inf
    for chunk in np.array_split(cand, max(1, len(cand) // 128)):
        scale = chunk[:, None] / QMAX
        q = np.clip(np.round(c[None, :] / scale), -128, QMAX) * scale
        err = ((c[None, :] - q) ** 2 * w[None, :]).sum(1)
        j = int(np.argmin(err))
        if err[j] < best_err:
            best, best_err = float(chunk[j]), float(err[j])
    return float(min(best, h.amax))


def compute_amax(h: Histogram, method: str, *, percentile: float = DEFAULT_PERCENTILE) -> float:
    """``amax`` of one tensor's statistics by ``method`` (one of METHODS)."""
    if method not in METHODS:
        raise QuantizationError(
            f"unknown calibration method {method!r}; expected one of {', '.join(METHODS)}"
        )
    if h.frames == 0:
        raise QuantizationError(
            f"{h.where}: no calibration data reached this tensor (is it on a dead branch?)"
        )
    if h.amax <= 0:
        return AMAX_FLOOR
    if method == "max":
        amax = h.amax
    elif method == "percentile":
        if not 0 < percentile <= 100:
            raise QuantizationError(f"percentile must be in (0, 100], found {percentile}")
        amax = _amax_percentile(h, percentile)
    elif method == "entropy":
        amax = _amax_entropy(h)
    else:
        amax = _amax_mse(h)
    if not math.isfinite(amax) or amax <= 0:
        raise QuantizationError(f"calibration ({method}) gave an invalid range {amax} for {h.where}")
    return max(amax, AMAX_FLOOR)


def collect_statistics(
    qmodel: nn.Module,
    batches: Iterable[np.ndarray | torch.Tensor],
    *,
    total: int | None = None,
    progress: bool = True,
    device: torch.device | str = "cpu",
) -> dict[str, Histogram]:
    """Run the batches through ``qmodel`` with quantization off and record every activation's |x|."""
    from edgeseg._progress import progress_bar

    quants = activation_quantizers(qmodel)
    if not quants:
        raise QuantizationError(
            "the model has no activation quantizers (use edgeseg.quant.placement.prepare first)"
        )
    stats = {name: Histogram(where=f"{name} ({q.where})" if q.where else name) for name, q in quants.items()}
    for name, q in quants.items():
        q.mode, q.observer = "calib", stats[name].collect
    qmodel.eval()
    seen = 0
    try:
        with torch.no_grad():
            for batch in progress_bar(
                batches, total=total, desc="calibrate", unit="batch", disable=not progress, leave=False
            ):
                x = torch.as_tensor(batch).to(device)
                qmodel(x)
                seen += 1
    finally:
        for q in quants.values():
            q.mode, q.observer = "quant", None
    if not seen:
        raise QuantizationError("the calibration set gave no batches")
    return stats


def apply_amax(
    qmodel: nn.Module, stats: dict[str, Histogram], method: str, *, percentile: float = DEFAULT_PERCENTILE
) -> dict[str, float]:
    """Set each activation quantizer's range from its statistics; returns {quantizer: amax}."""
    quants = activation_quantizers(qmodel)
    out = {}
    for name, q in quants.items():
        if name not in stats:
            raise QuantizationError(f"no calibration statistics for {name}")
        amax = compute_amax(stats[name], method, percentile=percentile)
        q.set_amax(amax)
        out[name] = amax
    return out


def calibrate(
    qmodel: nn.Module,
    batches: Iterable[np.ndarray | torch.Tensor],
    *,
    method: str = "max",
    percentile: float = DEFAULT_PERCENTILE,
    total: int | None = None,
    progress: bool = True,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Collect statistics and set every activation range by ``method`` (default "max")."""
    if method not in METHODS:
        raise QuantizationError(
            f"unknown calibration method {method!r}; expected one of {', '.join(METHODS)}"
        )
    stats = collect_statistics(qmodel, batches, total=total, progress=progress, device=device)
    return apply_amax(qmodel, stats, method, percentile=percentile)


def load_amax(qmodel: nn.Module, amax: dict[str, float], *, where: str = "checkpoint") -> None:
    """Set activation ranges from a stored {quantizer: amax}; names must match exactly."""
    quants = activation_quantizers(qmodel)
    missing = sorted(set(quants) - set(amax))
    extra = sorted(set(amax) - set(quants))
    if missing or extra:
        raise QuantizationError(
            f"{where}: stored quantizer ranges do not fit this model "
            f"(missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
            f"unexpected {extra[:3]}{'...' if len(extra) > 3 else ''}); "
            "was it made by another edgeseg version or architecture?"
        )
    for name, q in quants.items():
        v = float(amax[name])
        if not math.isfinite(v) or v <= 0:
            raise QuantizationError(f"{where}: stored range of {name} is {v}; expected a positive number")
        q.set_amax(v)


def is_calibrated(qmodel: nn.Module) -> bool:
    return all(
        isinstance(q, TensorQuantizer) and q.calibrated for q in activation_quantizers(qmodel).values()
    )
