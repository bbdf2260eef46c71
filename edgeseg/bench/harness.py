"""Run a benchmark matrix: one isolated worker process per row, results appended to a JSON file.

Each row (and the peak measurement) runs in ``python -m edgeseg.bench._worker`` with a timeout,
so a segfault, an out-of-memory kill or a hang marks that row "failed: <reason>" and the other
rows go on. The run is saved to the results file after every row (under a file lock, replacing
only this run's own entry), so an interrupted run keeps what it measured. The worker process is
``isolate.run_worker``; a row's build steps ``make_steps.run_make_steps``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable

from edgeseg._io import check_output_path
from edgeseg.bench._availability import skip_reason
from edgeseg.bench.isolate import WorkerResult, run_worker
from edgeseg.bench.make_steps import run_make_steps
from edgeseg.bench.matrix import Matrix, RowSpec
from edgeseg.bench.results import load_results, upsert_run
from edgeseg.bench.roofline import row_roofline
from edgeseg.bench.schema import make_state, new_run_id, now_iso, state_kind

PEAK_TIMEOUT_S = 300.0


def measure_peaks(
    thread_counts: list[int | None], options: dict[str, Any], log: Callable[[str], None]
) -> dict[str, Any]:
    """Peak GFLOP/s and GB/s for each distinct thread count, each in its own worker."""
    by: dict[str, Any] = {}
    for t in dict.fromkeys(thread_counts):
        opts = {**options, **({"threads": t} if t else {})}
        w = run_worker({"mode": "peak", "options": opts}, timeout=PEAK_TIMEOUT_S, threads=t)
        res = w.result if not w.reason else {"state": make_state("failed", w.reason)}
        key = str(res.get("threads") or t or "default")
        by[str(t or "default")] = res
        if res.get("state") == "ok":
            log(
                f"peak ({key} threads): {res['matmul_gflops']:.1f} GFLOP/s float32 matmul "
                f"({res.get('matmul_library', 'torch')}), "
                f"{res['bandwidth_gbs']:.1f} GB/s copy"
                + (f", {res['stream_gbs']:.1f} GB/s STREAM" if res.get("stream_gbs") else "")
                + (
                    f", {res['int8_matmul_gops']:.0f} GOP/s int8 matmul ({res.get('int8_library')})"
                    if res.get("int8_matmul_gops")
                    else ""
                )
            )
        else:
            log(f"peak ({key} threads): {res.get('state')}")
    first = next(iter(by.values()), {"state": "skipped"})
    return {**first, "by_threads": by}


def _machine() -> tuple[dict[str, Any], dict[str, Any]]:
    from edgeseg._env import machine_info
    from edgeseg.backends import library_versions

    return machine_info(), library_versions()


def _finish_row(
    spec: RowSpec, w: WorkerResult | None, state: str | None, build_s: float | None, log_tail: str
) -> dict[str, Any]:
    row: dict[str, Any] = {"id": spec.id, "artifact": spec.artifact}
    if w is not None:
        row.update(w.result)
        row["seconds"] = round(w.seconds, 2)
        if w.reason:
            phase = row.get("phase")
            row["state"] = make_state("failed", w.reason + (f" (during {phase})" if phase else ""))
        if state_kind(row.get("state", "failed")) != "ok" and w.log_tail:
            row["log"] = w.log_tail
    if state is not None:
        row["state"] = state
        if log_tail:
            row["log"] = log_tail
    row.setdefault("state", make_state("failed", "no result"))
    row.setdefault("model", spec.model)
    row.setdefault("options", dict(spec.options))
    row.setdefault("threads", spec.threads)
    row.setdefault("input_size", list(spec.size) if spec.size else None)
    row["settings"] = {
        "warmup": spec.warmup,
        "runs": spec.runs,
        "batch": list(spec.batch),
        "timeout": spec.timeout,
        "profile": spec.profile,
    }
    if spec.make:  # the edgeseg commands that build this artifact (the report's recommendation prints them)
        row["make"] = [[a.replace("{artifact}", spec.artifact) for a in step] for step in spec.make]
    if build_s is not None:
        row["build_s"] = build_s
        row["built_by_bench"] = True
    return row


def _apply_gates(rows: list[dict[str, Any]], specs: dict[str, RowSpec], peak: dict[str, Any]) -> None:
    """Roofline multiples, and mIoU gates against reference rows."""
    by_id = {r["id"]: r for r in rows}
    for row in rows:
        spec = specs[row["id"]]
        p = (peak.get("by_threads") or {}).get(str(spec.threads or "default")) or peak
        lat = (row.get("latency_ms") or {}).get("p50")
        batch = (row.get("batches") or [{"batch": 1}])[0].get("batch", 1)
        row.update(row_roofline(row, p, latency_ms=lat, batch=batch))
        if spec.reference is None or spec.reference == row["id"] or row.get("state") != "ok":
            continue
        ref = by_id.get(spec.reference) or {}
        mine = (row.get("accuracy") or {}).get("miou")
        base = (ref.get("accuracy") or {}).get("miou")
        if mine is None or base is None:
            continue
        drop = 100.0 * (base - mine)
        row["miou_delta_points"] = -drop
        if spec.max_miou_drop is not None and drop > spec.max_miou_drop:
            row["state"] = make_state(
                "accuracy check failed",
                f"mIoU {100 * mine:.2f} is {drop:.2f} points below {spec.reference} "
                f"({100 * base:.2f}); allowed {spec.max_miou_drop:g}",
            )


def _summary(row: dict[str, Any]) -> str:
    bits = [row["state"]]
    lat = row.get("latency_ms")
    if lat:
        bits.append(f"p50 {lat['p50']:.2f} ms")
    acc = row.get("accuracy") or {}
    if acc.get("miou") is not None:
        bits.append(f"mIoU {100 * acc['miou']:.2f}%")
    if row.get("seconds") is not None:
        bits.append(f"({row['seconds']:.0f} s)")
    return "  ".join(bits)


def run_matrix(
    matrix: Matrix,
    output: str | os.PathLike,
    *,
    rebuild: bool = False,
    measure_peak: bool = True,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    faults: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run every row of ``matrix`` and append the run to ``output``; return the run.

    ``make`` steps run in ``matrix.workdir`` (the matrix file's folder). ``faults`` is test-only:
    row id -> fault kind injected into that row's worker (see ``_worker``).
    """
    log = log or (lambda s: print(s, file=sys.stderr, flush=True))
    out = check_output_path(output)
    if out.exists():
        load_results(out)  # refuse a broken file before any long work
    machine, libs = _machine()
    run: dict[str, Any] = {
        "id": new_run_id(),
        "started": now_iso(),
        "finished": None,
        "command": list(sys.argv),
        "matrix": {
            "name": matrix.name,
            "description": matrix.description,
            "data": matrix.data,
            "max_frames": matrix.max_frames,
            "workdir": matrix.workdir,
        },
        "machine": machine,
        "libraries": libs,
        "peak": {"state": "skipped: not measured"},
        "rows": [],
    }
    upsert_run(out, run)
    if measure_peak:
        run["peak"] = measure_peaks([r.threads for r in matrix.rows], matrix.peak, log)
        upsert_run(out, run)
    specs = {r.id: r for r in matrix.rows}
    for i, spec in enumerate(matrix.rows, 1):
        log(f"[{i}/{len(matrix.rows)}] {spec.id}: {spec.artifact}")
        reason = skip_reason(spec.artifact, spec.options)  # before building what could not run here
        if reason:
            state, build_s, tail = make_state("skipped", reason), None, ""
        else:
            state, build_s, tail = run_make_steps(spec, Path(matrix.workdir), rebuild=rebuild, log=log)
        w = None
        if state is None and not Path(spec.artifact).exists():
            state = make_state("failed", f"artifact not found: {spec.artifact}")
        if state is None:
            payload = {
                "mode": "row",
                "row": spec.to_dict(),
                "data": matrix.data,
                "max_frames": matrix.max_frames,
                "progress": False,
                "split": "val",
            }
            if faults and spec.id in faults:
                payload["_fault"] = faults[spec.id]
            w = run_worker(
                payload,
                timeout=spec.timeout,
                threads=spec.threads,
                on_phase=(lambda ph: log(f"  ... {ph}")) if progress else None,
            )
        row = _finish_row(spec, w, state, build_s, tail)
        row.pop("phase", None)
        run["rows"].append(row)
        _apply_gates(run["rows"], specs, run["peak"])
        log(f"  {_summary(row)}")
        upsert_run(out, run)
    if matrix.rounds > 1:
        _more_rounds(matrix, run, out, measure_peak=measure_peak, progress=progress, log=log)
    run["finished"] = now_iso()
    upsert_run(out, run)
    return run


def _p50(latency: dict[str, Any] | None) -> float | None:
    return (latency or {}).get("p50")


def _more_rounds(
    matrix: Matrix,
    run: dict[str, Any],
    out: Path,
    *,
    measure_peak: bool,
    progress: bool,
    log: Callable[[str], None],
) -> None:
    """Rounds 2..N: each measured row again in a fresh worker (latency only: no dataset, no build),
    then every row reports the round with its median p50 (the lower median for an even count) and
    keeps each round's p50 in ``row["rounds"]``. The peak is measured per round too and the highest is
    kept (a roofline against a dip would flatter every row). On a machine whose speed drifts over
    minutes (shared hosts, thermal limits), rows measured minutes apart are otherwise not comparable."""
    specs = {r.id: r for r in matrix.rows}
    measured = {
        row["id"]: [(1, row.get("latency_ms"), row.get("batches"))]
        for row in run["rows"]
        if state_kind(row["state"]) in ("ok", "accuracy check failed") and _p50(row.get("latency_ms"))
    }
    peaks = [run["peak"]] if measure_peak else []
    for rnd in range(2, matrix.rounds + 1):
        log(f"round {rnd}/{matrix.rounds}: latency of {len(measured)} row(s)")
        if measure_peak:
            peaks.append(measure_peaks([r.threads for r in matrix.rows], matrix.peak, log))
        for rid, hist in measured.items():
            spec = specs[rid]
            # latency only: no mIoU, no profile (both kept from round 1)
            row_spec = {**spec.to_dict(), "profile": 0}
            payload = {"mode": "row", "row": row_spec, "data": None, "progress": False}
            w = run_worker(
                payload,
                timeout=spec.timeout,
                threads=spec.threads,
                on_phase=(lambda ph: log(f"  ... {ph}")) if progress else None,
            )
            ok = not w.reason and w.result.get("state") == "ok" and _p50(w.result.get("latency_ms"))
            if ok:
                hist.append((rnd, w.result["latency_ms"], w.result.get("batches")))
            log(
                f"  {rid}: "
                + (
                    f"p50 {_p50(w.result['latency_ms']):.2f} ms"
                    if ok
                    else f"not measured ({w.reason or w.result.get('state')}); round left out"
                )
            )
    for row in run["rows"]:
        hist = measured.get(row["id"])
        if not hist:
            continue
        ordered = sorted(hist, key=lambda h: _p50(h[1]))
        rnd, lat, batches = ordered[(len(ordered) - 1) // 2]
        row["rounds"] = [{"round": r, "p50": _p50(l)} for r, l, _ in hist]
        row["latency_round"] = rnd
        row["latency_ms"], row["batches"] = lat, batches
    ok_peaks = [p for p in peaks if p.get("matmul_gflops")]
    if ok_peaks:
        best = max(ok_peaks, key=lambda p: p["matmul_gflops"])
        run["peak"] = {**best, "rounds": [p.get("matmul_gflops") for p in peaks]}
    _apply_gates(run["rows"], specs, run["peak"])
    upsert_run(out, run)
