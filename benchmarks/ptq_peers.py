#!/usr/bin/env python
"""edgeseg's PTQ against its peers: val mIoU of FP32, edgeseg PTQ (each calibration method with each
bias correction, and the default `edgeseg quantize` output), OpenVINO NNCF and ONNX Runtime's own
quantizer, every INT8 model calibrated on the same frames.

    python benchmarks/ptq_peers.py --checkpoint edgeseg/weights/cgnet_camvid.pt \\
        --data camvid:/work/shared/datasets/camvid --calib-num 100 --threads 1

Calibration: ``CalibrationSet(DATA, card, num=N)`` (train split, evenly spaced) for every row.
Evaluation: the ``DATA`` val split at the card's input size with ``edgeseg.train.evaluate``.
Every row after ``fp32`` also records ``vs_fp32``: its pixel agreement with the FP32 model's own
predictions on the same val frames and its mIoU scored against them (``mIoU@FP32``) -- the fidelity of
the quantization, which does not ride on where its noise falls on 101 labelled frames.
Rows and their evaluators:

- ``fp32``: the checkpoint in PyTorch.
- ``edgeseg <method> / bc <mode>``: one statistics pass, then per row the method's ranges and the
  bias correction (``edgeseg.quant.bias_correction``), exported with ``export_qdq_onnx`` (checked
  TensorRT Q/DQ) and run by ONNX Runtime (CPU, all graph optimizations) -- what users deploy.
- ``edgeseg default``: ``edgeseg.quant.quantize`` with its defaults (the `edgeseg quantize` command),
  the written ONNX run by ONNX Runtime.
- ``nncf default`` / ``nncf full bc``: ``nncf.quantize`` on the OpenVINO model read from the FP32
  ONNX export (default preset and settings; the second with ``fast_bias_correction=False``), run by
  OpenVINO on the CPU with INFERENCE_PRECISION_HINT f32 (no bf16).
- ``ort quantizer``: ``edgeseg.quant.ort_cpu.quantize_ort_cpu`` (what ``edgeseg build --backend
  onnxruntime --int8`` runs: uint8 asymmetric activations, CPU only), run by ONNX Runtime.

``--threads N`` pins the process to N cores (NNCF's own statistics runs included) and gives every
runtime N threads. Results are appended to ``--out`` (default benchmarks/results/ptq_peers.json).
Run it with stdin from /dev/null when it runs in the background (OpenVINO's telemetry may ask on a
terminal). ``--max-frames 3 --calib-num 8 --methods mse --out -`` is a one-minute smoke run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the row builders beside this script

from ptq_peers_rows import default_row, edgeseg_rows, make_row, nncf_rows, ort_row  # noqa: E402

GROUPS = ("fp32", "edgeseg", "default", "nncf", "ort")


def _pin(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    try:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, set(cpus[:threads]))
    except (AttributeError, OSError):  # not Linux: the runtimes' thread settings still apply
        pass


class _Recorder:
    """Wraps a Runner for ``evaluate`` and keeps each frame's predicted labels (argmax at the model's
    output size), so every row can be compared with the FP32 row's predictions frame by frame."""

    def __init__(self, runner: Any) -> None:
        self.runner, self.card, self.preds = runner, runner.card, []

    @property
    def input_size(self) -> tuple[int, int]:
        return self.runner.input_size

    def infer(self, batch: np.ndarray) -> np.ndarray:
        logits = self.runner.infer(batch)
        self.preds.append(np.asarray(logits).argmax(1).astype(np.uint8))
        return logits


def fidelity(preds: list[np.ndarray], ref: list[np.ndarray], num_classes: int) -> dict[str, float]:
    """How closely ``preds`` follow the reference (FP32) predictions on the same frames: pixel agreement
    and the mIoU of ``preds`` scored against the reference's labels. Unlike val mIoU, this does not
    depend on how the quantization noise happens to fall on the (few, 101) labelled frames."""
    from edgeseg.train.metrics import ConfusionMatrix

    if len(preds) != len(ref):
        raise ValueError(f"{len(preds)} predictions against {len(ref)} reference frames")
    cm = ConfusionMatrix(num_classes, ignore_index=255)
    for p, r in zip(preds, ref):
        cm.update(p, r)
    d = cm.to_dict()
    return {"pixel_agreement": round(float(d["pixel_accuracy"]), 6), "miou": round(float(d["miou"]), 6)}


def _versions() -> dict[str, Any]:
    from edgeseg.backends import library_versions

    out = library_versions()
    for name in ("openvino", "nncf"):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            out[name] = None
    return out


def print_table(run: dict[str, Any]) -> None:
    fp = next((r["miou"] for r in run["rows"] if r["id"] == "fp32"), None)
    print(
        f"\n{run['checkpoint']['path']} on {run['val']['data']} [{run['val']['split']}], "
        f"{run['val']['frames']} frames "
        f"at {run['val']['size'][0]}x{run['val']['size'][1]}; {run['calibration']['frames']} "
        "calibration frames"
    )
    print(
        f"{'row':<34} {'mIoU':>7} {'vs FP32':>8} {'agree':>7} {'mIoU@FP32':>9} {'quantize s':>10}  evaluator"
    )
    for r in run["rows"]:
        d = "" if fp is None or r["id"] == "fp32" else f"{100 * (r['miou'] - fp):+.2f}"
        q = "" if r.get("quantize_s") is None else f"{r['quantize_s']:.0f}"
        f = r.get("vs_fp32")
        a, m = ("", "") if f is None else (f"{100 * f['pixel_agreement']:6.2f}%", f"{100 * f['miou']:8.2f}%")
        print(f"{r['id']:<34} {100 * r['miou']:6.2f}% {d:>8} {a:>7} {m:>9} {q:>10}  {r['evaluator']}")
    print(f"wall time {run['wall_s'] / 60:.1f} min")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True, help="FP32 edgeseg checkpoint (.pt)")
    ap.add_argument(
        "--data", required=True, help="dataset spec: calibration from its train split, evaluation on --split"
    )
    ap.add_argument("--calib-num", type=int, default=100, help="calibration frames (default 100)")
    ap.add_argument(
        "--calib-batch", type=int, default=8, help="calibration batch (default 8, as edgeseg quantize)"
    )
    ap.add_argument("--split", default="val", help="evaluation split (default val)")
    ap.add_argument(
        "--max-frames", type=int, default=None, help="evaluate at most N frames (smoke runs; default all)"
    )
    ap.add_argument("--threads", type=int, default=1, help="CPU cores/threads for everything (default 1)")
    ap.add_argument(
        "--rows", default=",".join(GROUPS), help=f"row groups to run (default all: {','.join(GROUPS)})"
    )
    ap.add_argument("--methods", default="max,percentile,entropy,mse", help="edgeseg calibration methods")
    ap.add_argument("--bias-modes", default="none,fast,sequential", help="edgeseg bias corrections")
    ap.add_argument(
        "--out",
        type=Path,
        default=ROOT / "benchmarks/results/ptq_peers.json",
        help="results file, runs appended (default benchmarks/results/ptq_peers.json); '-' = do not save",
    )
    ap.add_argument("--note", default=None, help="recorded with the run (e.g. what else shared the machine)")
    args = ap.parse_args(argv)
    groups = [g for g in args.rows.split(",") if g]
    if set(groups) - set(GROUPS):
        ap.error(f"--rows: unknown group(s) {sorted(set(groups) - set(GROUPS))}; expected {','.join(GROUPS)}")
    import importlib.util

    needs = {"nncf": ("nncf", "openvino"), "ort": ("onnxruntime",)}
    missing = sorted({m for g in groups for m in needs.get(g, ()) if importlib.util.find_spec(m) is None})
    if missing:  # before any work: a missing peer used to end a 45-minute run with nothing saved
        ap.error(
            f"--rows {','.join(groups)} needs {', '.join(missing)}, not installed: pip install -e '.[peers]' "
            f"(or drop those row groups)"
        )
    _pin(args.threads)
    start, wall0 = dt.datetime.now(dt.timezone.utc), time.perf_counter()

    from edgeseg._env import machine_info
    from edgeseg._io import sha256_file
    from edgeseg.data.calib import CalibrationSet
    from edgeseg.data.datasets import open_dataset
    from edgeseg.export.onnx import export_onnx
    from edgeseg.module_runner import ModuleRunner
    from edgeseg.train.checkpoint import load_checkpoint
    from edgeseg.train.evaluate import evaluate

    model, card, _ = load_checkpoint(args.checkpoint)
    size = tuple(card.input_size)
    calib = CalibrationSet(args.data, card, num=args.calib_num, batch=args.calib_batch, size=size)
    val = open_dataset(args.data, args.split, size=size)

    ref: list[np.ndarray] = []  # the FP32 row's predictions, when that row runs first

    def ev(runner, desc: str) -> dict:
        rec = _Recorder(runner)
        res = evaluate(rec, val, max_frames=args.max_frames, progress=False, desc=desc)
        if desc == "fp32":
            ref[:] = rec.preds
        elif ref:
            res["vs_fp32"] = fidelity(rec.preds, ref, card.num_classes)
        return res

    def log(row: dict) -> None:
        print(
            f"  {row['id']:<34} {100 * row['miou']:6.2f}%  ({row.get('quantize_s', '-')} s quantize, "
            f"{row['eval_s']:.0f} s eval)",
            flush=True,
        )

    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        fp32_onnx = export_onnx(model, card, tmp / "fp32.onnx", size=size)
        if "fp32" in groups:
            fp32 = ModuleRunner.from_model(model, card, channels_last=False, input_size=size)
            rows.append(make_row("fp32", "pytorch", "pytorch (eager)", ev(fp32, "fp32")))
            log(rows[-1])
        if "edgeseg" in groups:
            rows += edgeseg_rows(
                model,
                card,
                calib,
                val,
                tmp,
                methods=args.methods.split(","),
                modes=args.bias_modes.split(","),
                threads=args.threads,
                ev=ev,
                log=log,
            )
        if "default" in groups:
            rows.append(default_row(args, card, tmp, ev=ev, log=log))
        if "nncf" in groups:
            rows += nncf_rows(fp32_onnx, card, calib, threads=args.threads, ev=ev, log=log)
        if "ort" in groups:
            rows.append(ort_row(fp32_onnx, calib, tmp, threads=args.threads, ev=ev, log=log))

    ck = Path(args.checkpoint)
    run = {
        "command": "python "
        + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, Path.cwd()), *sys.argv[1:]]),
        "date": start.isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - wall0, 1),
        "machine": machine_info(),
        "versions": _versions(),
        "threads": args.threads,
        **({"note": args.note} if args.note else {}),
        "checkpoint": {"path": str(args.checkpoint), "sha256": sha256_file(ck), "arch": card.arch},
        "calibration": {
            "source": args.data,
            "split": "train",
            "frames": len(calib),
            "batch": calib.batch,
            "fingerprint": calib.fingerprint(),
        },
        "val": {
            "data": args.data,
            "split": args.split,
            "frames": rows[0]["frames"] if rows else 0,
            "size": list(size),
        },
        "rows": rows,
    }
    print_table(run)
    if str(args.out) != "-":
        doc = (
            json.loads(args.out.read_text())
            if args.out.is_file()
            else {"schema": "edgeseg.ptq_peers/1", "runs": []}
        )
        doc["runs"].append(run)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"appended to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
