#!/usr/bin/env python
"""ExecuTorch INT8 of CGNet with and without its deploy form (``edgeseg.models.DEPLOY_FORMS``), timed
interleaved in one process.

    python benchmarks/executorch_deploy_form.py edgeseg/weights/cgnet_camvid.pt --dir /tmp/etdf \\
        [--calib camvid:../shared/datasets/camvid --calib-num 16] [--rounds 9 --runs 20] [--build-only]

Builds (once; kept in ``--dir``) two INT8 programs of the checkpoint with the same calibration frames:
``as_trained.pte`` (the model as trained, only the padded-pool rewrite) and ``deploy.pte`` (the form
``edgeseg build --backend executorch`` lowers), then times both, alternating per round, and prints the
median of the round p50s and how often their label maps agree. ``--build-only`` stops after the build
(build beside other work at low priority; time alone on the machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path


def build(ckpt: Path, out: Path, *, deploy: bool, calib: str, calib_num: int) -> dict:
    import torch

    from edgeseg.backends._calib_set import open_calib_set
    from edgeseg.backends.executorch._lower import lower
    from edgeseg.train.checkpoint import load_checkpoint

    net, card, _ = load_checkpoint(ckpt)
    h, w = card.input_size
    cset = open_calib_set(calib, card, num=calib_num, batch=1, size=(h, w))
    t = time.perf_counter()
    res = lower(
        net,
        torch.zeros(1, 3, h, w),
        card_json=lambda _: "{}",
        calib=cset.batches(),
        arch=card.arch if deploy else None,
        log=lambda _: None,
    )
    out.write_bytes(res.buffer)
    return {"seconds": round(time.perf_counter() - t, 1), **res.delegation}


def time_programs(paths: list[Path], *, rounds: int, runs: int, threads: int) -> dict[str, dict]:
    import numpy as np
    import torch

    from edgeseg.backends.executorch._native import runtime, threadpool

    threadpool()._unsafe_reset_threadpool(threads)
    methods = {p.name: runtime().load_program(p).load_method("forward") for p in paths}
    x = torch.from_numpy(np.random.default_rng(0).random((1, 3, 360, 480), dtype=np.float32))
    labels = {n: m.execute([x])[0].numpy().argmax(1) for n, m in methods.items()}
    first = labels[paths[0].name]
    p50s: dict[str, list[float]] = {n: [] for n in methods}
    for _ in range(rounds):
        for n, m in methods.items():
            ts = []
            for _ in range(runs):
                t = time.perf_counter()
                m.execute([x])
                ts.append(time.perf_counter() - t)
            p50s[n].append(1000 * statistics.median(ts))
    return {
        n: {
            "p50_ms": round(statistics.median(v), 2),
            "round_p50s": [round(r, 2) for r in v],
            "label_agreement_with_first": round(float((labels[n] == first).mean()), 4),
        }
        for n, v in p50s.items()
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--dir", type=Path, required=True, help="where the two programs are built and kept")
    ap.add_argument("--calib", default="synthetic:16")
    ap.add_argument("--calib-num", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--build-only", action="store_true")
    args = ap.parse_args(argv)
    if not args.checkpoint.is_file():
        print(f"{args.checkpoint}: checkpoint not found", file=sys.stderr)
        return 2
    args.dir.mkdir(parents=True, exist_ok=True)
    programs = [args.dir / "as_trained.pte", args.dir / "deploy.pte"]
    for path, deploy in zip(programs, (False, True)):
        if not path.is_file():
            info = build(args.checkpoint, path, deploy=deploy, calib=args.calib, calib_num=args.calib_num)
            print(f"built {path}: {json.dumps(info)}")
    if args.build_only:
        return 0
    res = time_programs(programs, rounds=args.rounds, runs=args.runs, threads=args.threads)
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
