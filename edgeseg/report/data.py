"""Flatten results files into report entries: one ``ReportEntry`` per row with the numbers tables and
charts use."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from edgeseg.bench.results import iter_rows, load_results
from edgeseg.bench.row import RowResult
from edgeseg.errors import EdgesegError
from edgeseg.report.entry import FLAVOURS, ReportEntry, precision_label

__all__ = ["FLAVOURS", "ReportEntry", "entry_from_row", "is_bench_file", "load_entries", "precision_label"]


def entry_from_row(row: dict[str, Any] | RowResult, run: dict[str, Any], source: str) -> ReportEntry:
    """The report's view of one row (missing numbers are None)."""
    return ReportEntry.from_row(row if isinstance(row, RowResult) else RowResult.from_dict(row), run, source)


def is_bench_file(path: str | os.PathLike) -> bool:
    """True for files that say they are edgeseg bench results (valid or not: those get load_results'
    error)."""
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return True  # let load_results report it
    return not isinstance(obj, dict) or str(obj.get("schema", "")).startswith("edgeseg.bench/")


def load_entries(
    paths: Sequence[str | os.PathLike], *, runs: str = "latest"
) -> tuple[list[ReportEntry], list[dict[str, Any]]]:
    """(entries, runs) from results files; ``runs`` "latest" (default: the newest run of each file) or "all".

    Row labels get a ``@<file>`` or ``@<run>`` suffix only where the same id appears more than once.
    When several files are given, JSON objects of other tools (no ``edgeseg.bench/`` schema) are
    skipped and listed in each run's ``skipped_files``; a broken bench file is an error."""
    if not paths:
        raise EdgesegError("no results files given (expected one or more edgeseg bench JSON files)")
    entries: list[ReportEntry] = []
    chosen_runs: list[dict[str, Any]] = []
    skipped: list[str] = []
    for p in paths:
        if len(paths) > 1 and not is_bench_file(p):
            skipped.append(str(p))  # e.g. another tool's JSON matched by results/*.json
            continue
        doc = load_results(p)
        if not doc["runs"]:
            continue
        seen = set()
        for run, row in iter_rows(doc, runs=runs):
            if run["id"] not in seen:
                seen.add(run["id"])
                chosen_runs.append({**run, "source": str(p)})
            entries.append(entry_from_row(row, run, Path(p).name))
    if not entries:
        extra = (
            f" ({len(skipped)} file(s) are not edgeseg bench results: {', '.join(skipped)})"
            if skipped
            else ""
        )
        raise EdgesegError(f"no benchmark rows in {', '.join(map(str, paths))}{extra}")
    for run in chosen_runs:
        run.setdefault("skipped_files", skipped)
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.id] = counts.get(e.id, 0) + 1
    multi_file = len({e.source for e in entries}) > 1
    for e in entries:
        if counts[e.id] > 1:
            same_src = sum(1 for o in entries if o.id == e.id and o.source == e.source) > 1
            e.id_label = (
                f"{e.id}@{e.run_id[:15]}" if same_src or not multi_file else f"{e.id}@{Path(e.source).stem}"
            )
        else:
            e.id_label = e.id
    _unique_labels(entries)
    return entries, chosen_runs


def _unique_labels(entries: list[ReportEntry]) -> None:
    """Labels are deployment paths, prefixed with the model when the report has several models; where two
    rows share a path (a rerun, another file), the row id tells them apart."""
    if len({e.model for e in entries if e.model != "-"}) > 1:
        for e in entries:
            e.label, e.short = f"{e.model}: {e.label}", f"{e.model} {e.short}"
    seen: dict[str, int] = {}
    for e in entries:
        seen[e.label] = seen.get(e.label, 0) + 1
    for e in entries:
        if seen[e.label] > 1:
            e.label, e.short = f"{e.label} [{e.id_label}]", f"{e.short} [{e.id_label}]"
