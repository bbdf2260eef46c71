"""edgeseg report: benchmark results JSON -> REPORT.md + self-contained report.html with charts."""

from __future__ import annotations

import argparse

HELP = "render benchmark results (JSON) as REPORT.md and a self-contained report.html with charts"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", nargs="+", help="results files written by `edgeseg bench`")
    p.add_argument("-o", "--output", default="report", help="output folder (default: report/; created when absent)")
    p.add_argument("--runs", choices=("latest", "all"), default="latest",
                   help="which runs of each file to show (default: the latest run of each file)")
    p.add_argument("--title", default="edgeseg benchmark report", help="report title")


def run(args: argparse.Namespace) -> int:
    import sys

    from edgeseg.report.data import is_bench_file
    from edgeseg.report.render import write_report

    if len(args.results) > 1:
        for p in args.results:
            if not is_bench_file(p):
                print(f"note: skipping {p}: not an edgeseg bench results file", file=sys.stderr)
    written = write_report(args.results, args.output, runs=args.runs, title=args.title)
    charts = [k for k in written if k not in ("markdown", "html")]
    print(f"wrote {written['markdown']} and {written['html']} ({len(charts)} charts)")
    return 0
