"""The results file schema ``edgeseg.bench/1``: row states, run skeletons and a validator.

A results file is ``{"schema": "edgeseg.bench/1", "runs": [run, ...]}``; each run holds the
machine, the measured peak and its rows. docs/benchmarks.md documents every field.
"""

from __future__ import annotations

import datetime as _dt
import math
import secrets
from typing import Any

from edgeseg.errors import EdgesegError

SCHEMA = "edgeseg.bench/1"

#: Row states, distinct on purpose: a row that could not be exported is not a slow row.
STATE_KINDS = ("ok", "export failed", "build failed", "accuracy check failed", "failed", "skipped")

RUN_KEYS = ("id", "started", "machine", "peak", "rows")
ROW_KEYS = ("id", "state", "artifact")
_ORDERED = ("min", "p50", "p90", "p99", "max")


def make_state(kind: str, reason: str = "") -> str:
    """``"failed: <reason>"`` etc.; ``"ok"`` carries no reason."""
    if kind not in STATE_KINDS:
        raise ValueError(f"unknown row state {kind!r}; expected one of {STATE_KINDS}")
    reason = " ".join(str(reason).split())[:300]
    return kind if kind == "ok" or not reason else f"{kind}: {reason}"


def state_kind(state: str) -> str:
    """The kind of a state string (``"failed: timeout"`` -> ``"failed"``)."""
    head = str(state).split(":", 1)[0].strip()
    return head if head in STATE_KINDS else "failed"


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def new_run_id() -> str:
    """Sortable and unique: ``20250101T120000Z-1a2b3c``."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def empty_results() -> dict[str, Any]:
    return {"schema": SCHEMA, "runs": []}


def json_safe(obj: Any) -> Any:
    """Replace NaN/Inf by None (strict JSON) and tuples by lists, recursively."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return json_safe(obj.item())
    return obj


def _check_stats(stats: Any, where: str, problems: list[str]) -> None:
    if stats is None:
        return
    if not isinstance(stats, dict):
        problems.append(f"{where}: expected a mapping of latency statistics")
        return
    vals = [stats.get(k) for k in _ORDERED]
    if any(not isinstance(v, (int, float)) for v in vals):
        problems.append(f"{where}: needs numbers for {', '.join(_ORDERED)}")
        return
    if any(a > b + 1e-9 for a, b in zip(vals, vals[1:])):
        problems.append(f"{where}: statistics out of order (min <= p50 <= p90 <= p99 <= max): {vals}")


def check_row(row: Any, where: str = "row") -> list[str]:
    """Problems with one row (empty list when it is valid)."""
    problems: list[str] = []
    if not isinstance(row, dict):
        return [f"{where}: expected a mapping, found {type(row).__name__}"]
    for k in ROW_KEYS:
        if k not in row:
            problems.append(f"{where}: missing {k!r}")
    state = row.get("state")
    if isinstance(state, str) and state.split(":", 1)[0].strip() not in STATE_KINDS:
        problems.append(f"{where}: unknown state {state!r} (expected one of {', '.join(STATE_KINDS)})")
    _check_stats(row.get("latency_ms"), f"{where}.latency_ms", problems)
    for i, b in enumerate(row.get("batches") or []):
        if not isinstance(b, dict) or not isinstance(b.get("batch"), int):
            problems.append(f"{where}.batches[{i}]: expected a mapping with an integer 'batch'")
            continue
        _check_stats(b.get("latency_ms"), f"{where}.batches[{i}].latency_ms", problems)
    return problems


def check_results(obj: Any, *, where: str = "results") -> list[str]:
    """Problems with a whole results document (empty list when valid)."""
    if not isinstance(obj, dict):
        return [f"{where}: expected a JSON object, found {type(obj).__name__}"]
    schema = obj.get("schema")
    if schema != SCHEMA:
        if isinstance(schema, str) and schema.startswith("edgeseg.bench/"):
            return [f"{where}: schema {schema!r} is not {SCHEMA!r} (written by another edgeseg version)"]
        return [f"{where}: not an edgeseg results file (schema {schema!r}, expected {SCHEMA!r})"]
    runs = obj.get("runs")
    if not isinstance(runs, list):
        return [f"{where}: 'runs' must be a list"]
    problems: list[str] = []
    seen: set[str] = set()
    for i, run in enumerate(runs):
        w = f"{where}.runs[{i}]"
        if not isinstance(run, dict):
            problems.append(f"{w}: expected a mapping")
            continue
        problems += [f"{w}: missing {k!r}" for k in RUN_KEYS if k not in run]
        if run.get("id") in seen:
            problems.append(f"{w}: duplicate run id {run.get('id')!r}")
        seen.add(run.get("id"))
        rows = run.get("rows")
        if not isinstance(rows, list):
            problems.append(f"{w}: 'rows' must be a list")
            continue
        for j, row in enumerate(rows):
            problems += check_row(row, f"{w}.rows[{j}]")
    return problems


def validate_results(obj: Any, *, where: str = "results") -> dict[str, Any]:
    """Return ``obj`` when it is a valid results document, else raise EdgesegError listing problems."""
    problems = check_results(obj, where=where)
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise EdgesegError("invalid benchmark results: " + "; ".join(problems[:5]) + more)
    return obj
