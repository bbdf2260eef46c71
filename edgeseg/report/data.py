"""Flatten results files into report entries: one dict per row with the numbers tables and charts use."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from edgeseg.bench.results import iter_rows, load_results
from edgeseg.bench.schema import state_kind
from edgeseg.errors import EdgesegError
from edgeseg.report.paths import describe


#: Short names for Q/DQ flavours in tables.
FLAVOURS = {"tensorrt-qdq": "trt-qdq", "onnxruntime-cpu": "ort-cpu", "cpu-qdq": "cpu-qdq"}


def precision_label(row: dict[str, Any]) -> str:
    """'fp32', 'fp16', 'int8 ptq trt-qdq', 'int8 qat trt-qdq', 'int8 ptq ort-cpu', ... ('-' when the row never opened)."""
    p = row.get("precision") or "-"
    q = row.get("quantization")
    if p != "int8" or not q:
        return p
    return f"{p} " + " ".join(FLAVOURS.get(w, w) for w in str(q).split())


def _first_ok_batch(row: dict[str, Any]) -> dict[str, Any] | None:
    for b in row.get("batches") or []:
        if b.get("latency_ms") and str(b.get("state", "ok")) == "ok":
            return b
    return None


def entry_from_row(row: dict[str, Any], run: dict[str, Any], source: str) -> dict[str, Any]:
    """The report's view of one row (missing numbers are None)."""
    acc = row.get("accuracy") or {}
    lat = row.get("latency_ms") or {}
    first = _first_ok_batch(row)
    mem = row.get("memory") or {}
    gpu = mem.get("gpu_peak") or {}
    path = describe(row)
    int8 = row.get("precision") == "int8"
    return {
        "id": row.get("id"),
        "label": path.name,  # made unique in load_entries
        "path": path.name,
        "short": path.short,
        "deployable": path.deployable,
        "path_note": path.note,
        "artifact": row.get("artifact"),
        "make": [list(s) for s in row.get("make") or []],
        "workdir": (run.get("matrix") or {}).get("workdir"),
        "source": source,
        "run_id": run.get("id"),
        "model": row.get("model") or row.get("arch") or "-",
        "backend": row.get("backend") or "-",
        "precision": precision_label(row),
        "precision_base": row.get("precision") or "?",
        "params": row.get("params"),
        "gflops": row.get("gflops"),
        "size_mb": row.get("file_size_mb"),
        "miou": acc.get("miou"),
        "per_class_iou": acc.get("per_class_iou") or {},
        "dataset": acc.get("dataset"),
        "trained": (row.get("card") or {}).get("trained") or "",
        "frames": acc.get("frames"),
        "p50": lat.get("p50"),
        "p90": lat.get("p90"),
        "p99": lat.get("p99"),
        "mean": lat.get("mean"),
        "batch": first.get("batch") if first else None,
        "timings": list(first.get("timings_ms") or []) if first else [],
        "throughput": {
            int(b["batch"]): b.get("throughput_fps")
            for b in row.get("batches") or []
            if b.get("throughput_fps")
        },
        # peak while inferring, of the row's own process. Results written before "rss_source" existed read
        # ru_maxrss, which carries the forking parent's peak: not the row's, so not shown.
        "rss_mb": mem.get("rss_peak_mb") if mem.get("rss_source") else None,
        "rss_loaded_mb": mem.get("rss_loaded_mb"),  # after loading the artifact
        "gpu_mb": gpu.get("torch_allocated_mb") or gpu.get("process_used_mb"),
        "roofline_x": row.get("roofline_x"),
        "roofline_int8_x": row.get("roofline_int8_x"),
        # against the peak of the row's own precision: INT8 rows vs the int8 matmul peak, others vs float32
        "roofline_own_x": row.get("roofline_int8_x") if int8 else row.get("roofline_x"),
        # which bound that multiple is against: "compute", "memory", or None (results from before the memory probe)
        "roofline_own_bound": row.get("roofline_int8_bound") if int8 else row.get("roofline_bound"),
        "mbytes": row.get("mbytes"),
        "rounds": len(row.get("rounds") or []) or 1,
        "state": row.get("state", "failed: no state"),
        "ok": state_kind(row.get("state", "failed")) in ("ok", "accuracy check failed"),
        "threads": row.get("threads"),
        "input_size": row.get("input_size"),
        "build_s": row.get("build_s"),
    }


def is_bench_file(path: str | os.PathLike) -> bool:
    """True for files that say they are edgeseg bench results (valid or not: those get load_results' error)."""
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return True  # let load_results report it
    return not isinstance(obj, dict) or str(obj.get("schema", "")).startswith("edgeseg.bench/")


def load_entries(
    paths: Sequence[str | os.PathLike], *, runs: str = "latest"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(entries, runs) from results files; ``runs`` "latest" (default: the newest run of each file) or "all".

    Row labels get a ``@<file>`` or ``@<run>`` suffix only where the same id appears more than once.
    When several files are given, JSON objects of other tools (no ``edgeseg.bench/`` schema) are skipped and listed in each run's ``skipped_files``; a broken bench file is an error."""
    if not paths:
        raise EdgesegError("no results files given (expected one or more edgeseg bench JSON files)")
    entries: list[dict[str, Any]] = []
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
        counts[e["id"]] = counts.get(e["id"], 0) + 1
    multi_file = len({e["source"] for e in entries}) > 1
    for e in entries:
        if counts[e["id"]] > 1:
            same_src = sum(1 for o in entries if o["id"] == e["id"] and o["source"] == e["source"]) > 1
            e["id_label"] = (
                f"{e['id']}@{e['run_id'][:15]}"
                if same_src or not multi_file
                else f"{e['id']}@{Path(e['source']).stem}"
            )
        else:
            e["id_label"] = e["id"]
    _unique_labels(entries)
    return entries, chosen_runs


def _unique_labels(entries: list[dict[str, Any]]) -> None:
    """Labels are deployment paths, prefixed with the model when the report has several models; where two
    rows share a path (a rerun, another file), the row id tells them apart."""
    if len({e["model"] for e in entries if e["model"] != "-"}) > 1:
        for e in entries:
            e["label"], e["short"] = f"{e['model']}: {e['label']}", f"{e['model']} {e['short']}"
    seen: dict[str, int] = {}
    for e in entries:
        seen[e["label"]] = seen.get(e["label"], 0) + 1
    for e in entries:
        if seen[e["label"]] > 1:
            e["label"], e["short"] = f"{e['label']} [{e['id_label']}]", f"{e['short']} [{e['id_label']}]"
