#!/usr/bin/env python
"""Time the ONNX Runtime CPU build with and without its float-graph rewrites, side by side in one process.

    python benchmarks/ort_rewrites.py benchmarks/build/cgnet_camvid.onnx \\
        [--threads 2] [--rounds 4] [--runs 20]

Builds MODEL.onnx twice with ``edgeseg.backends.onnxruntime.build.build_onnxruntime`` (``rewrite=False`` and
the default) into a temporary folder, opens both plus the export as is (ORT_ENABLE_ALL, the
runner's default), checks the outputs agree, then times them interleaved: ``rounds`` rounds of
``runs`` timed calls each after 5 warm-up calls, reporting each variant's best round median (ms).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _session(path: Path, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _median_ms(sess, feed, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t0)
    return 1000.0 * float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("onnx", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args(argv)

    from edgeseg.backends.onnxruntime.build import build_onnxruntime
    from edgeseg.card import card_from_onnx

    card = card_from_onnx(args.onnx)
    with tempfile.TemporaryDirectory() as tmp:
        plain = build_onnxruntime(
            args.onnx, output=Path(tmp) / "plain.onnx", rewrite=False, log=lambda s: None
        )
        rewritten = build_onnxruntime(args.onnx, output=Path(tmp) / "rewritten.onnx", log=lambda s: None)
        variants = {
            "export as is": args.onnx,
            "build --no-rewrite": plain.path,
            "build (rewrites)": rewritten.path,
        }
        sessions = {k: _session(p, args.threads) for k, p in variants.items()}
        x = np.random.default_rng(0).random((1, 3, *card.input_size), dtype=np.float32)
        feed = {"input": x}
        ref = sessions["export as is"].run(None, feed)[0]
        for name, sess in sessions.items():
            diff = float(np.abs(sess.run(None, feed)[0] - ref).max())
            print(f"{name:<20} max |diff| vs export {diff:.2g}")
        for sess in sessions.values():
            for _ in range(5):
                sess.run(None, feed)
        best = {k: float("inf") for k in sessions}
        for _ in range(args.rounds):
            for name, sess in sessions.items():
                best[name] = min(best[name], _median_ms(sess, feed, args.runs))
    print(
        f"\n{card.arch} {card.input_size[0]}x{card.input_size[1]}, batch 1, {args.threads} threads; "
        f"best of {args.rounds} round medians ({args.runs} runs each)"
    )
    base = best["export as is"]
    for name, ms in best.items():
        print(f"{name:<20} {ms:7.2f} ms   {base / ms:4.2f}x the export")
    for line in rewritten.card.extra.get("rewrites", []):
        print(f"  rewrite: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
