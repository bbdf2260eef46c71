#!/usr/bin/env python
"""Append a run that takes latency, mIoU and the peak from one run and memory from another, labelled so.

    python benchmarks/merge_memory.py benchmarks/results/cgnet_cpu.json \\
        benchmarks/results/cgnet_cpu_memory.json

The memory file's runs are read newest last; a row measured ok in a later run replaces an earlier one
(a row whose build timed out in one run can be measured again with ``--only ROW``).

Used once, when the memory figures of the committed CPU run were found wrong (every row showed the
forking parent's ``ru_maxrss``) and the machine was too busy for a fair latency re-run: the memory-only
run (``cgnet_cpu_memory.yaml``: the same rows, artifacts rebuilt by their ``make`` steps, no dataset,
1 round) gives each row its own memory and its ``make`` steps; everything else is the earlier run's.
The new run's ``note`` names both runs; rows whose file size differs between them are listed there.
"""

from __future__ import annotations

import argparse
import copy
import sys

from edgeseg.bench.results import load_results, upsert_run
from edgeseg.bench.schema import new_run_id, now_iso


def merge(base: dict, mems: list[dict]) -> dict:
    rows: dict = {}
    make = {
        r["id"]: r["make"] for mem in mems for r in mem["rows"] if r.get("make")
    }  # recorded whatever the row's state
    for mem in mems:  # later runs win, for the rows they measured
        rows.update(
            {
                r["id"]: r
                for r in mem["rows"]
                if r.get("state") == "ok" and (r.get("memory") or {}).get("rss_source")
            }
        )
    ids = ", ".join(m["id"] for m in mems)
    run = copy.deepcopy(base)
    differ, missing = [], []
    for row in run["rows"]:
        m = rows.get(row["id"])
        if row["id"] in make:
            row["make"] = make[row["id"]]
        if not m:
            missing.append(row["id"])
            row["memory"] = {}
            continue
        row["memory"] = m["memory"]
        a, b = row.get("file_size_mb"), m.get("file_size_mb")
        if a and b and abs(a - b) > 0.005:
            differ.append(f"{row['id']} {a:.2f}/{b:.2f} MB")
    run["id"] = new_run_id()
    run["started"], run["finished"] = now_iso(), now_iso()
    run["matrix"] = {
        **(base.get("matrix") or {}),
        "workdir": (mems[-1].get("matrix") or {}).get("workdir", "."),
    }
    run["note"] = (
        f"latency, throughput, mIoU and peak from run {base['id']} (5 rounds, quiet machine); memory "
        "and make "
        f"steps from run(s) {ids} (cgnet_cpu_memory.yaml, 1 round, artifacts rebuilt, machine shared: its "
        f"latencies are not used)"
        + (f"; no memory for {', '.join(missing)}" if missing else "")
        + (f"; file sizes differ (earlier/rebuilt): {', '.join(differ)}" if differ else "")
    )
    return run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "results",
        help="results file whose latest run gives latency and mIoU; the merged run is appended here",
    )
    ap.add_argument("memory", help="results file whose runs give memory (later runs win per row)")
    args = ap.parse_args(argv)
    base = load_results(args.results)["runs"][-1]
    run = merge(base, load_results(args.memory)["runs"])
    upsert_run(args.results, run, replace=False)
    print(f"appended run {run['id']} to {args.results}: {run['note']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
