"""edgeseg report: benchmark results JSON -> REPORT.md + self-contained report.html with charts, the
recommendation first."""

from __future__ import annotations

import argparse
from edgeseg.commands._policy import Io

from edgeseg.commands._args import float_in

HELP = (
    "render benchmark results (JSON) as REPORT.md and report.html: what to deploy first, then the "
    "table and charts"
)


def _report_names(args: argparse.Namespace) -> list:
    from pathlib import Path

    return [("--output", Path(args.output) / "REPORT.md"), ("--output", Path(args.output) / "report.html")]


IO = Io(inputs=("results",), folders=("output",), derived=_report_names)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", nargs="+", help="results files written by `edgeseg bench`")
    p.add_argument(
        "-o", "--output", default="report", help="output folder (default: report/; created when absent)"
    )
    p.add_argument(
        "--runs",
        choices=("latest", "all"),
        default="latest",
        help="which runs of each file to show (default: the latest run of each file)",
    )
    p.add_argument(
        "--title", type=str, default="edgeseg benchmark report", help="report title (any text, empty too)"
    )
    g = p.add_argument_group(
        "the recommendation (default: the fastest deployment path within 0.5 mIoU points of the best "
        "FP32 row)"
    )
    g.add_argument(
        "--max-drop",
        type=float_in(0),
        default=0.5,
        metavar="POINTS",
        help="mIoU points the recommended row may lose against the best FP32 row (default 0.5)",
    )
    g.add_argument(
        "--latency-budget",
        type=float_in(0),
        default=None,
        metavar="MS",
        help="only rows with p50 latency <= MS",
    )
    g.add_argument(
        "--memory-budget",
        type=float_in(0),
        default=None,
        metavar="MB",
        help="only rows whose peak memory is <= MB",
    )


def run(args: argparse.Namespace) -> int:
    import re
    import sys

    from edgeseg.report.data import is_bench_file
    from edgeseg.report.render import write_report

    if len(args.results) > 1:
        for p in args.results:
            if not is_bench_file(p):
                print(f"note: skipping {p}: not an edgeseg bench results file", file=sys.stderr)
    written = write_report(
        args.results,
        args.output,
        runs=args.runs,
        title=args.title,
        max_drop=args.max_drop,
        latency_budget_ms=args.latency_budget,
        memory_budget_mb=args.memory_budget,
    )
    first = written["markdown"].read_text().splitlines()[2]  # the recommendation line, under the title
    print(re.sub(r"[*]{2}", "", first))
    charts = [k for k in written if k not in ("markdown", "html")]
    print(f"wrote {written['markdown']} and {written['html']} ({len(charts)} charts)")
    return 0
