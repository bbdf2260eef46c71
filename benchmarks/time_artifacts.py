#!/usr/bin/env python
"""Any edgeseg artifacts timed side by side in one process, interleaved (batch 1, one synthetic frame).

    python benchmarks/time_artifacts.py A.pte B.pte C.xml [--threads 2] [--rounds 5] [--runs 10]

Each round runs every artifact ``--runs`` times, the order rotated per round (``_cpu_timing.
time_interleaved``); prints the median, IQR and call count of each. ONNX Runtime models are opened with
their threads' spinning off (``spin=False``): a spinning session slows whatever is timed after it in the
same process (docs/camera.md). Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cpu_timing import stats, time_interleaved  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifacts", nargs="+", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args(argv)

    from edgeseg._env import machine_info
    from edgeseg.backends import open_runner, runner_class

    runners = {}
    for p in args.artifacts:
        extra = {"spin": False} if runner_class(p).backend == "onnxruntime" else {}
        runners[str(p)] = open_runner(p, threads=args.threads, **extra)
    sizes = {tuple(r.input_size or (360, 480)) for r in runners.values()}
    if len(sizes) != 1:
        ap.error(f"the artifacts take different input sizes {sorted(sizes)}: time them separately")
    h, w = sizes.pop()
    x = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
    times = time_interleaved(runners, x, rounds=args.rounds, runs=args.runs, warmup=3)
    print(json.dumps({"machine": machine_info(), "ms": {k: stats(v) for k, v in times.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
