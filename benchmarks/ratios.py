#!/usr/bin/env python
"""The CPU targets of the benchmark issue, from an ``edgeseg bench`` results file (the logic lives in
``edgeseg.report.recommend``; ``edgeseg report`` prints the same recommendation at the top of REPORT.md).

    python benchmarks/ratios.py benchmarks/results/cgnet_cpu.json [--max-drop 0.5] [--check]

Targets, on the recommended row (the fastest deployment path within 0.5 mIoU points of the best FP32 row):
speed-up over PyTorch eager FP32 >= 2.0x, and p50 <= 1.5x its float32 roofline.
``--check`` exits 1 when a target is missed (0 otherwise); without it the exit code is 0.
"""

from __future__ import annotations

import argparse
import sys

from edgeseg.report.data import load_entries
from edgeseg.report.recommend import check_targets, recommend, recommendation_line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument(
        "--max-drop",
        type=float,
        default=0.5,
        help="mIoU points allowed below the best FP32 row (default 0.5)",
    )
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args(argv)
    entries, runs = load_entries([args.results])
    rec = recommend(entries, max_drop=args.max_drop)
    print(f"run {runs[-1]['id']} ({runs[-1].get('started')}), {len(entries)} rows")
    print(recommendation_line(rec).replace("**", ""))
    results = check_targets(rec)
    for line, met in results:
        print(f"  {line}   {'MET' if met else 'MISSED'}")
    return 1 if args.check and not all(m for _, m in results) else 0


if __name__ == "__main__":
    sys.exit(main())
