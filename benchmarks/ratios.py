#!/usr/bin/env python
"""Print the CPU targets of the benchmark issue as ratios, from an ``edgeseg bench`` results file.

    python benchmarks/ratios.py benchmarks/results/cgnet_cpu.json [--run RUN_ID] [--baseline ROW] [--check]

Targets (p50 latency, batch as benchmarked):
  1. the fastest CPU path whose mIoU is within -0.5 points of PyTorch eager FP32 is >= 2.0x faster
     than PyTorch eager FP32 (the baseline: the first ok torch fp32 row without channels-last,
     unless --baseline names another row);
  2. that path's latency is <= 1.5x its roofline (compute-bound time at the measured float32 matmul
     peak, as the issue defines it). For an INT8 path the multiple against the measured int8 matmul
     peak is printed beside it (information, not a target).
``--check`` exits 1 when a target is missed (0 otherwise); without it the exit code is 0.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from edgeseg.bench.results import load_results

SPEEDUP_TARGET = 2.0
MIOU_TOLERANCE_POINTS = 0.5
ROOFLINE_TARGET = 1.5


def _p50(row: dict[str, Any]) -> float | None:
    return (row.get("latency_ms") or {}).get("p50")


def _miou(row: dict[str, Any]) -> float | None:
    v = (row.get("accuracy") or {}).get("miou")
    return None if v is None else 100.0 * v


def _channels_last(row: dict[str, Any]) -> bool:
    opts = {**(row.get("options") or {}), **(row.get("runner_options") or {})}
    return bool(opts.get("channels_last", False))


def pick_baseline(rows: list[dict[str, Any]], wanted: str | None) -> dict[str, Any]:
    ok = [r for r in rows if r.get("state") == "ok" and _p50(r)]
    if wanted:
        for r in rows:
            if r["id"] == wanted:
                if r not in ok:
                    sys.exit(f"baseline row {wanted!r} is not ok: {r.get('state')}")
                return r
        sys.exit(f"no row {wanted!r}; rows: {', '.join(r['id'] for r in rows)}")
    eager = [r for r in ok if r.get("backend") == "torch" and r.get("precision") == "fp32"]
    nchw = [r for r in eager if not _channels_last(r)]
    if not (nchw or eager):
        sys.exit("no ok PyTorch eager FP32 row to compare with (give --baseline ROW)")
    return (nchw or eager)[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("results")
    ap.add_argument("--run", default=None, help="run id (default: the latest run in the file)")
    ap.add_argument("--baseline", default=None, help="row id of the PyTorch eager FP32 baseline")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args(argv)

    doc = load_results(args.results)
    runs = [r for r in doc["runs"] if args.run in (None, r["id"])]
    if not runs:
        sys.exit(f"no run {args.run!r} in {args.results}")
    run = runs[-1]
    rows = run["rows"]
    base = pick_baseline(rows, args.baseline)
    b_lat, b_miou = _p50(base), _miou(base)
    print(f"run {run['id']} ({run.get('started')}), {len(rows)} rows")
    print(f"baseline (PyTorch eager FP32): {base['id']}  p50 {b_lat:.2f} ms  mIoU {'n/a' if b_miou is None else f'{b_miou:.2f}'}")
    print()
    print(f"{'row':<24} {'backend':<12} {'precision':<10} {'p50 ms':>8} {'speed-up':>9} {'mIoU':>7} {'dmIoU':>7} {'x roof':>7}  state")
    cpu = []
    for r in rows:
        lat, miou = _p50(r), _miou(r)
        sp = b_lat / lat if lat else None
        d = None if miou is None or b_miou is None else miou - b_miou
        roof = r.get("roofline_x")
        print(f"{r['id']:<24} {str(r.get('backend') or '-'):<12} {str(r.get('precision') or '-'):<10} "
              f"{'-' if lat is None else f'{lat:.2f}':>8} {'-' if sp is None else f'{sp:.2f}x':>9} "
              f"{'-' if miou is None else f'{miou:.2f}':>7} {'-' if d is None else f'{d:+.2f}':>7} "
              f"{'-' if roof is None else f'{roof:.2f}x':>7}  {r.get('state')}")
        on_cpu = str(r.get("device") or "cpu").startswith("cpu") and r.get("backend") in ("torch", "onnxruntime", "coreml", "openvino")
        if r.get("state") == "ok" and lat and on_cpu:
            cpu.append((r, lat, d))
    print()
    if b_miou is None:
        print("note: no mIoU in this run (bench without --data): the accuracy condition is not checked")
        eligible = cpu
    else:
        eligible = [(r, lat, d) for r, lat, d in cpu if d is not None and d >= -MIOU_TOLERANCE_POINTS]
    if not eligible:
        print(f"no ok CPU row within -{MIOU_TOLERANCE_POINTS} mIoU points of the baseline")
        return 1 if args.check else 0
    best, lat, d = min(eligible, key=lambda t: t[1])
    speedup = b_lat / lat
    roof = best.get("roofline_x")
    ok1 = speedup >= SPEEDUP_TARGET
    ok2 = roof is not None and roof <= ROOFLINE_TARGET
    dtxt = "" if d is None else f", mIoU {d:+.2f} points"
    print(f"fastest CPU path within -{MIOU_TOLERANCE_POINTS} mIoU: {best['id']} ({best.get('backend')} {best.get('precision')}), p50 {lat:.2f} ms{dtxt}")
    for r in (base, best):
        if r.get("rounds"):
            print(f"  {r['id']} p50 by round: " + ", ".join(f"{x['p50']:.2f}" for x in r["rounds"])
                  + f" ms (round {r.get('latency_round')}, the median, is reported)")
    print(f"  speed-up vs PyTorch eager FP32: {speedup:.2f}x   target >= {SPEEDUP_TARGET:.1f}x   {'MET' if ok1 else 'MISSED'}")
    if roof is None:
        print("  roofline multiple: n/a (no peak measured or no GFLOPs for this row)   MISSED")
    else:
        peak = run.get("peak") or {}
        print(f"  multiple of roofline: {roof:.2f}x   target <= {ROOFLINE_TARGET:.1f}x   {'MET' if ok2 else 'MISSED'}"
              f"   (peak {peak.get('matmul_gflops')} GFLOP/s float32 matmul by {peak.get('matmul_library', 'torch')}, "
              f"{best.get('gflops') or 0:.2f} GFLOPs/image)")
        if best.get("roofline_int8_x") is not None:
            print(f"  against the int8 matmul peak ({peak.get('int8_matmul_gops')} GOP/s by {peak.get('int8_library')}): "
                  f"{best['roofline_int8_x']:.2f}x   (information: the target is stated against the float32 peak)")
    return 0 if (ok1 and ok2) or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
