"""The report's answer to "what do I deploy?": the fastest deployment path that keeps accuracy.

Default question: the fastest row that is a deployment path on the machine that ran it and is
within ``max_drop`` (0.5) mIoU points of the best FP32 row. ``latency_budget_ms`` and
``memory_budget_mb`` add limits (p50 latency, peak RSS while inferring). The answer names the path
in words, its latency, memory, size and mIoU change, and the ``edgeseg`` commands that built it
(from the rows' ``make`` steps, following each input made by another row).

``check_targets`` is the CPU target check of the benchmark issue (formerly benchmarks/ratios.py):
speed-up over PyTorch eager FP32 and the multiple of the roofline.
"""

from __future__ import annotations

import math
import os
import shlex
from dataclasses import dataclass, field
from typing import Any, Sequence

from edgeseg.report.entry import ReportEntry

DEFAULT_MAX_DROP = 0.5
SPEEDUP_TARGET = 2.0
ROOFLINE_TARGET = 1.5

Entry = ReportEntry


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


@dataclass(frozen=True)
class Recommendation:
    """``entry``: the chosen row (None when no row qualifies); ``reference``: the best FP32 row;
    ``baseline``: PyTorch eager FP32 (speed-ups); ``question``: the criteria in words;
    ``commands``: the edgeseg commands that build the chosen artifact (empty when not recorded)."""

    entry: Entry | None
    reference: Entry | None
    baseline: Entry | None
    question: str
    commands: list[str] = field(default_factory=list)
    workdir: str | None = None
    why_none: str = ""

    def delta_points(self, e: Entry | None = None) -> float | None:
        e = e or self.entry
        if not e or not self.reference or not (_num(e.miou) and _num(self.reference.miou)):
            return None
        return 100.0 * (e.miou - self.reference.miou)

    def speedup(self, e: Entry | None = None) -> float | None:
        e = e or self.entry
        if not e or not self.baseline or not (_num(e.p50) and _num(self.baseline.p50)):
            return None
        return self.baseline.p50 / e.p50


def best_fp32(entries: Sequence[Entry]) -> Entry | None:
    """The ok FP32 row with the highest mIoU (None when no FP32 row has one)."""
    rows = [e for e in entries if e.ok and e.precision_base == "fp32" and _num(e.miou)]
    return max(rows, key=lambda e: e.miou) if rows else None


def eager_baseline(entries: Sequence[Entry]) -> Entry | None:
    """PyTorch eager FP32, preferring NCHW (not channels-last): the speed-up baseline."""
    rows = [
        e for e in entries if e.ok and e.backend == "torch" and e.precision_base == "fp32" and _num(e.p50)
    ]
    nchw = [e for e in rows if "channels-last" not in e.path]
    return (nchw or rows or [None])[0]


def build_commands(entry: Entry, entries: Sequence[Entry]) -> list[str]:
    """The entry's ``make`` steps, preceded by those of every row whose artifact a step reads
    (recursively)."""
    wd = entry.workdir or "."

    def norm(p: str) -> str:
        return os.path.normpath(os.path.join(wd, p))

    by_artifact = {norm(e.artifact): e for e in entries if e.artifact and e.make and e.source == entry.source}
    out: list[str] = []

    def visit(e: Entry, stack: tuple[str, ...]) -> None:
        for step in e.make or []:
            for arg in step[1:]:
                dep = by_artifact.get(norm(arg))
                if dep is not None and dep is not e and dep.id not in stack:
                    visit(dep, stack + (dep.id,))
            cmd = "edgeseg " + shlex.join(step)
            if cmd not in out:
                out.append(cmd)

    visit(entry, (entry.id,))
    return out


def recommend(
    entries: Sequence[Entry],
    *,
    max_drop: float = DEFAULT_MAX_DROP,
    latency_budget_ms: float | None = None,
    memory_budget_mb: float | None = None,
) -> Recommendation:
    """The fastest deployable row within ``max_drop`` mIoU points of the best FP32 row (default 0.5)
    and the budgets given (None: no limit)."""
    ref = best_fp32(entries)
    base = eager_baseline(entries)
    limits = []
    if ref is not None:
        limits.append(
            f"within {max_drop:g} mIoU points of the best FP32 row ({ref.label}, {100 * ref.miou:.2f} %)"
        )
    if latency_budget_ms is not None:
        limits.append(f"p50 latency <= {latency_budget_ms:g} ms")
    if memory_budget_mb is not None:
        limits.append(f"peak memory <= {memory_budget_mb:g} MB")
    question = "the fastest deployment path on the benchmarked machine" + (
        " " + ", ".join(limits) if limits else ""
    )
    if ref is None:
        question += " (no FP32 row with mIoU in these results: accuracy not checked; run bench with --data)"
    pool = [e for e in entries if e.ok and e.deployable and _num(e.p50)]
    why: list[str] = []
    if ref is not None:
        keep = [e for e in pool if _num(e.miou) and 100.0 * (ref.miou - e.miou) <= max_drop + 1e-9]
        if len(keep) < len(pool):
            why.append(f"{len(pool) - len(keep)} lose more than {max_drop:g} mIoU points")
        pool = keep
    if latency_budget_ms is not None:
        keep = [e for e in pool if e.p50 <= latency_budget_ms]
        if len(keep) < len(pool):
            why.append(f"{len(pool) - len(keep)} are slower than {latency_budget_ms:g} ms")
        pool = keep
    if memory_budget_mb is not None:
        keep = [e for e in pool if _num(e.rss_mb) and e.rss_mb <= memory_budget_mb]
        if len(keep) < len(pool):
            why.append(
                f"{len(pool) - len(keep)} need more than {memory_budget_mb:g} MB (or have no memory figure)"
            )
        pool = keep
    if not pool:
        n = sum(1 for e in entries if e.ok and e.deployable and _num(e.p50))
        return Recommendation(
            None,
            ref,
            base,
            question,
            why_none=f"of {n} deployable row(s) with a latency, " + ("; ".join(why) or "none qualify"),
        )
    best = min(pool, key=lambda e: (e.p50, e.rss_mb if _num(e.rss_mb) else math.inf))
    return Recommendation(best, ref, base, question, build_commands(best, entries), best.workdir)


def _mb(x: Any) -> str:
    return f"{x:.0f} MB" if _num(x) else "n/a"


def recommendation_line(rec: Recommendation) -> str:
    """One sentence (Markdown emphasis) answering the question; the first line of the report."""
    e = rec.entry
    if e is None:
        limits = rec.question.removeprefix("the fastest deployment path on the benchmarked machine").strip()
        return (
            f"**No recommendation:** no deployment path on the benchmarked machine is {limits or 'usable'} "
            f"({rec.why_none})."
        )
    bits = [f"p50 {e.p50:.2f} ms"]
    sp = rec.speedup()
    if sp is not None and rec.baseline is not e:
        bits[-1] += f" ({sp:.1f}x faster than {rec.baseline.label})"
    bits.append(f"peak memory {_mb(e.rss_mb)} while inferring ({_mb(e.rss_loaded_mb)} once loaded)")
    bits.append(f"{e.size_mb:.2f} MB on disk" if _num(e.size_mb) else "size n/a")
    d = rec.delta_points()
    if d is not None:
        bits.append(f"mIoU {100 * e.miou:.2f} % ({d:+.2f} points vs the best FP32 row)")
    elif _num(e.miou):
        bits.append(f"mIoU {100 * e.miou:.2f} %")
    return f"**Recommendation: {e.label}** — " + ", ".join(bits) + "."


def check_targets(
    rec: Recommendation, *, speedup_min: float = SPEEDUP_TARGET, roofline_max: float = ROOFLINE_TARGET
) -> list[tuple[str, bool]]:
    """(line, met) for the benchmark issue's CPU targets on the recommended row: speed-up over PyTorch
    eager FP32 >= ``speedup_min`` (2.0) and p50 <= ``roofline_max`` (1.5) x its float32 roofline."""
    e = rec.entry
    if e is None:
        return [(f"no row qualifies ({rec.why_none})", False)]
    out = []
    sp = rec.speedup()
    out.append(
        (
            f"speed-up vs PyTorch eager FP32: {'n/a' if sp is None else f'{sp:.2f}x'} (target >= "
            f"{speedup_min:.1f}x)",
            sp is not None and sp >= speedup_min,
        )
    )
    roof = e.roofline_x
    line = (
        f"multiple of the float32 roofline: {'n/a' if not _num(roof) else f'{roof:.2f}x'} "
        f"(target <= {roofline_max:.1f}x)"
    )
    if _num(e.roofline_int8_x):
        line += f"; against the int8 matmul peak: {e.roofline_int8_x:.2f}x (information)"
    out.append((line, _num(roof) and roof <= roofline_max))
    return out
