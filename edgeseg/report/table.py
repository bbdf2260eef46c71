"""The report's results table: its columns, each with a one-line explanation printed under the table."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from edgeseg.report.entry import ReportEntry
from edgeseg.report.recommend import Recommendation

Entry = ReportEntry


def _f(x: Any, fmt: str, scale: float = 1.0, suffix: str = "") -> str:
    if not isinstance(x, (int, float)) or not math.isfinite(x):
        return "-"
    return format(x * scale, fmt) + suffix


def _throughput(e: Entry) -> str:
    tp = e.throughput
    if not tp:
        return "-"
    return " / ".join(f"{v:.1f} (b{b})" for b, v in sorted(tp.items()))


def _path(e: Entry) -> str:
    return e.label + ("" if e.deployable else " (not a deployment path here)")


@dataclass(frozen=True)
class Column:
    head: str
    cell: Callable[[Entry, Recommendation], str]
    explain: str
    left: bool = False  # text column (left-aligned, may wrap)
    multi_model: bool = False  # shown only when the report has several models
    gpu: bool = False  # shown only when a row used a GPU


def _delta(e: Entry, rec: Recommendation) -> str:
    d = rec.delta_points(e)
    return "-" if d is None else "0.00" if abs(d) < 0.005 else f"{d:+.2f}"


def _roofline(e: Entry, rec: Recommendation) -> str:
    x = _f(e.roofline_own_x, ".1f", suffix="x")
    bound = e.roofline_own_bound
    return f"{x} ({bound})" if bound and x != "-" else x


def _speedup(e: Entry, rec: Recommendation) -> str:
    s = rec.speedup(e)
    return "-" if s is None else f"{s:.2f}x"


COLUMNS: list[Column] = [
    Column(
        "deployment path",
        lambda e, r: _path(e),
        "what runs: runtime, precision and how the artifact was made",
        left=True,
    ),
    Column("model", lambda e, r: e.model, "the network", left=True, multi_model=True),
    Column("params (M)", lambda e, r: _f(e.params, ".3f", 1e-6), "parameters, millions", multi_model=True),
    Column(
        "GFLOPs",
        lambda e, r: _f(e.gflops, ".2f"),
        "multiply-adds x 2 per image at the benchmarked size",
        multi_model=True,
    ),
    Column(
        "mIoU (%)",
        lambda e, r: _f(e.miou, ".2f", 100),
        "mean intersection-over-union on the validation frames listed under the machine",
    ),
    Column(
        "Δ mIoU (points)",
        _delta,
        "mIoU minus the best FP32 row's, in percentage points (negative: accuracy lost)",
    ),
    Column(
        "p50 (ms)",
        lambda e, r: _f(e.p50, ".2f"),
        "median wall time of one inference call (batch as benchmarked, after warm-up)",
    ),
    Column("p90 (ms)", lambda e, r: _f(e.p90, ".2f"), "90th percentile of the same calls"),
    Column("speed-up", _speedup, "PyTorch eager FP32's p50 divided by this row's"),
    Column(
        "throughput (img/s)",
        lambda e, r: _throughput(e),
        "images per second at each benchmarked batch size (bN)",
    ),
    Column(
        "memory loaded (MB)",
        lambda e, r: _f(e.rss_loaded_mb, ".0f"),
        "resident memory of the row's own process once the artifact is open (runtime library included)",
    ),
    Column(
        "memory peak (MB)",
        lambda e, r: _f(e.rss_mb, ".0f"),
        "highest resident memory of the row's own process while it infers",
    ),
    Column(
        "GPU peak (MB)",
        lambda e, r: _f(e.gpu_mb, ".0f"),
        "highest GPU memory of the row's process while it infers (torch's allocator peak, else NVML)",
        gpu=True,
    ),
    Column("size (MB)", lambda e, r: _f(e.size_mb, ".2f"), "the artifact on disk (an IR counts its .bin)"),
    Column(
        "x roofline",
        _roofline,
        "p50 divided by the row's roofline time: the larger of its compute time (the model's "
        "operations at this "
        "machine's measured matmul peak of the row's precision; INT8 rows: the int8 peak, others: "
        "float32) and "
        "its memory time (the bytes its layers move at the row's precision over the measured STREAM "
        "bandwidth); "
        "(compute) or (memory) says which is larger; 1.0x = at that bound. Rows measured before the memory "
        "probe show no bound: compute only",
    ),
    Column("row id", lambda e, r: e.id_label, "the row's id in the results file", left=True),
    Column("state", lambda e, r: str(e.state), "ok, or why the row was skipped or failed", left=True),
]


def columns(entries: Sequence[Entry]) -> list[Column]:
    """The columns for these entries (model, params and GFLOPs only when there are several models)."""
    multi = len({e.model for e in entries if e.model != "-"}) > 1
    gpu = any(e.gpu_mb for e in entries)
    return [c for c in COLUMNS if (multi or not c.multi_model) and (gpu or not c.gpu)]


def table_rows(entries: Sequence[Entry], rec: Recommendation) -> list[list[str]]:
    cols = columns(entries)
    return [[c.cell(e, rec) for c in cols] for e in entries]


def model_facts(entries: Sequence[Entry]) -> str:
    """One line on the model when the report has one (its columns are then left out of the table)."""
    models = {e.model for e in entries if e.model != "-"}
    if len(models) != 1:
        return ""
    e = next((e for e in entries if e.params), entries[0])
    size = e.input_size
    at = f" at {size[0]}x{size[1]}" if size else ""
    return (
        f"Model: {e.model}, {_f(e.params, '.3f', 1e-6)} M parameters, "
        f"{_f(e.gflops, '.2f')} GFLOPs per image{at}."
    )
