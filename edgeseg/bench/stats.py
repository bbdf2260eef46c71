"""Latency statistics from raw per-run timings (milliseconds)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

#: Keys of a latency summary, in the order tables show them.
STAT_KEYS = ("mean", "std", "min", "p50", "p90", "p99", "max")


def summarize(timings_ms: Sequence[float]) -> dict[str, float]:
    """Mean, std (population), min, p50, p90, p99 and max of ``timings_ms``.

    Percentiles use linear interpolation between order statistics (numpy's default), so
    ``min <= p50 <= p90 <= p99 <= max`` always holds. Raises ValueError on an empty or
    non-finite sequence (a timing loop that produced nothing is a bug, not a zero).
    """
    t = np.asarray(list(timings_ms), dtype=np.float64)
    if t.size == 0:
        raise ValueError("no timings to summarize")
    if not np.isfinite(t).all():
        raise ValueError("timings contain NaN or Inf")
    p50, p90, p99 = np.percentile(t, [50, 90, 99])
    return {
        "mean": float(t.mean()),
        "std": float(t.std()),
        "min": float(t.min()),
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "max": float(t.max()),
    }


def throughput(batch: int, mean_ms: float) -> float:
    """Images per second at ``batch`` images per call taking ``mean_ms`` on average."""
    if not (mean_ms > 0 and math.isfinite(mean_ms)):
        return float("nan")
    return 1000.0 * batch / mean_ms
