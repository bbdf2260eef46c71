#!/usr/bin/env python
"""Accuracy-budgeted INT8 side by side: edgeseg ``quantize --max-drop`` (per-layer sensitivity + greedy
float fallback, TensorRT-style Q/DQ ONNX) against OpenVINO NNCF's ``quantize_with_accuracy_control``
on the same checkpoint, calibration frames, validation frames and budget.

    python benchmarks/mixed_peers.py --checkpoint edgeseg/weights/cgnet_camvid.pt \\
        --data camvid:/work/shared/datasets/camvid --max-drop 0.3 --frames 16 --calib-num 100 \\
        --threads 2 --bench

Same budget, same metric: both search on the first ``--frames`` val frames (``--budget-frames``: check
the budget on more, NNCF validating on them all), scored as ``mIoU@FP32`` (the INT8 model's labels
against the FP32 model's own labels, so the budget bounds quantization noise) or, with ``--reference
labels``, as label mIoU against the ground truth (FP32's minus INT8's). NNCF gets ``validation_fn`` =
that metric in [0, 1], ``max_drop = --max-drop / 100``, drop type ABSOLUTE; edgeseg gets ``--max-drop``
and ``--class-drop`` (NNCF has no per-class budget; its row reports its worst class as measured). Then
every row is evaluated on the whole val split (mIoU against the labels, and mIoU@FP32), both INT8 models
run by OpenVINO on the CPU (f32 inference precision): edgeseg's from its Q/DQ ONNX (the float layers have
no FakeQuantize), NNCF's as it returns it. ``--bench`` adds each model's OpenVINO latency (median of
``--runs``; run it alone on the machine: a background job makes the figures meaningless). Results are
appended to ``--out`` (default
benchmarks/results/mixed_peers.json; ``-`` prints only). Smoke: ``--frames 2 --calib-num 8
--max-frames 2 --out -``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
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


def _peers() -> Any:
    spec = importlib.util.spec_from_file_location("ptq_peers", Path(__file__).with_name("ptq_peers.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _latency(compiled: Any, x: np.ndarray, runs: int) -> float:
    for _ in range(3):
        compiled(x)
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        compiled(x)
        ts.append(time.perf_counter() - t)
    return round(1000 * float(np.median(ts)), 3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument(
        "--data", required=True, help="dataset spec: calibration from train, search and eval on val"
    )
    ap.add_argument(
        "--max-drop", type=float, default=0.3, help="mean budget, points of --reference (default 0.3)"
    )
    ap.add_argument("--class-drop", type=float, default=1.0, help="edgeseg's per-class budget (default 1.0)")
    ap.add_argument("--frames", type=int, default=16, help="val frames both searches score on (default 16)")
    ap.add_argument(
        "--reference",
        choices=("fp32", "labels"),
        default="fp32",
        help="what the budget's points are of: mIoU@FP32 (default) or label mIoU against the ground truth "
        "(FP32's minus INT8's; NNCF's validation_fn is then label mIoU, as an NNCF user writes it)",
    )
    ap.add_argument(
        "--budget-frames",
        type=int,
        default=None,
        help="val frames the budget is checked on (NNCF's validation set; edgeseg's --budget-frames); "
        "default --frames. edgeseg ranks on --frames either way",
    )
    ap.add_argument("--calib-num", type=int, default=100, help="calibration frames (default 100)")
    ap.add_argument("--max-frames", type=int, default=None, help="final evaluation frames (default all val)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bench", action="store_true", help="also time each model in OpenVINO (run alone!)")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/mixed_peers.json"))
    args = ap.parse_args(argv)
    for m in ("openvino", "nncf"):
        if importlib.util.find_spec(m) is None:
            ap.error(f"{m} is not installed: pip install -e '.[peers]'")
    peers = _peers()  # puts benchmarks/ on sys.path: its row builders import beside it
    import ptq_peers_rows as peer_rows

    peers._pin(args.threads)
    import nncf
    import openvino as ov

    from edgeseg._env import machine_info
    from edgeseg.data.calib import CalibrationSet
    from edgeseg.data.datasets import open_dataset
    from edgeseg.export.onnx import export_onnx
    from edgeseg.module_runner import ModuleRunner
    from edgeseg.quant.mixed_ptq import MixedRequest
    from edgeseg.quant.pipeline import quantize
    from edgeseg.quant.label_budget import label_maps, make_scorer
    from edgeseg.quant.sensitivity import frame_batches, predict
    from edgeseg.train.checkpoint import load_checkpoint
    from edgeseg.train.evaluate import evaluate

    start, wall0 = dt.datetime.now(dt.timezone.utc), time.perf_counter()
    model, card, _ = load_checkpoint(args.checkpoint)
    size = tuple(card.input_size)
    calib = CalibrationSet(args.data, card, num=args.calib_num, batch=8, size=size)
    val = open_dataset(args.data, "val", size=size)
    nb = args.frames if args.budget_frames is None else args.budget_frames
    search = [b[i : i + 1] for b in frame_batches(val, card, frames=nb) for i in range(len(b))]
    ref = predict(model, search)
    gt = label_maps(val, frames=nb, size=size) if args.reference == "labels" else None
    score = make_scorer(
        ref, num_classes=card.num_classes, reference=args.reference, labels=gt, ignore_index=card.ignore_index
    )
    rows: list[dict[str, Any]] = []
    ref_all: list[np.ndarray] = []

    def full_eval(runner: Any, rid: str) -> dict[str, Any]:
        rec = peers._Recorder(runner)
        res = evaluate(rec, val, max_frames=args.max_frames, progress=False, desc=rid)
        if rid == "fp32":
            ref_all[:] = rec.preds
        out = {"id": rid, "miou": round(float(res["miou"]), 6), "frames": res["frames"]}
        if rid != "fp32":
            out["vs_fp32"] = peers.fidelity(rec.preds, ref_all, card.num_classes)
        return out

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        fp32 = ModuleRunner.from_model(model, card, channels_last=False, input_size=size)
        rows.append(full_eval(fp32, "fp32"))
        fp32_onnx = export_onnx(model, card, tmp / "fp32.onnx", size=size)
        from edgeseg.backends.openvino._core import shared_core

        core = shared_core()  # one Core per process (docs/reliability.md: the sigaltstack fault)
        cfg = {"INFERENCE_NUM_THREADS": args.threads, "INFERENCE_PRECISION_HINT": "f32"}

        # edgeseg: quantize --max-drop, then OpenVINO runs the Q/DQ ONNX
        t = time.perf_counter()
        mixed = quantize(
            args.checkpoint,
            output=tmp / "mixed_int8.onnx",
            calib=args.data,
            num_calib=args.calib_num,
            val_data=args.data,
            val_max_frames=args.max_frames,
            mixed=MixedRequest(
                args.max_drop,
                args.class_drop,
                args.frames,
                reference=args.reference,
                budget_frames=args.budget_frames,
            ),
            progress=False,
        )
        secs = round(time.perf_counter() - t, 1)
        from edgeseg.card import card_from_onnx

        rec = card_from_onnx(mixed).extra["quantization"]["mixed"]
        # ov.convert_model, as edgeseg build does: OpenVINO 2026.4's core.read_model of a Q/DQ ONNX whose
        # stem conv is float computes another model (76 % pixel agreement with ONNX Runtime; see
        # docs/reliability.md)
        compiled = core.compile_model(ov.convert_model(str(mixed)), "CPU", cfg)
        runner = peer_rows.OpenVinoModel.__new__(peer_rows.OpenVinoModel)
        runner.card, runner.compiled = card, compiled
        row = full_eval(runner, "edgeseg --max-drop")
        row.update(
            search_s=secs,
            float_layers=len(rec["float_layers"]),
            search_frames_drop=rec["mixed"]["drop"],
            budget_met=rec["budget_met"],
        )
        if args.bench:
            row["latency_ms"] = _latency(compiled, search[0], args.runs)
        rows.append(row)

        # NNCF quantize_with_accuracy_control on the OpenVINO model of the FP32 export
        def validate(cm: Any, items: Any) -> float:  # mIoU@FP32 or label mIoU, in [0, 1]
            preds = np.concatenate([np.asarray(cm(x)[0]).argmax(1).astype(np.uint8) for x in items])
            return float(score(preds).miou)

        t = time.perf_counter()
        qm = nncf.quantize_with_accuracy_control(
            core.read_model(str(fp32_onnx)),
            calibration_dataset=nncf.Dataset(peer_rows.single_frames(calib)),
            validation_dataset=nncf.Dataset(search),
            validation_fn=validate,
            max_drop=args.max_drop / 100.0,
            drop_type=nncf.DropType.ABSOLUTE,
            subset_size=args.calib_num,
        )
        secs = round(time.perf_counter() - t, 1)
        compiled = core.compile_model(qm, "CPU", cfg)
        runner = peer_rows.OpenVinoModel.__new__(peer_rows.OpenVinoModel)
        runner.card, runner.compiled = card, compiled
        row = full_eval(runner, "nncf accuracy control")
        a = score(np.concatenate([np.asarray(compiled(x)[0]).argmax(1).astype(np.uint8) for x in search]))
        cd = a.class_drops(min_pixels=1000)
        row.update(
            search_s=secs,
            fake_quantize_nodes=sum(op.get_type_name() == "FakeQuantize" for op in qm.get_ops()),
            search_frames_drop=round(a.drop(), 4),
            worst_class_drop=round(max(cd.values(), default=0.0), 4),
        )
        if args.bench:
            row["latency_ms"] = _latency(compiled, search[0], args.runs)
        rows.append(row)

    run = {
        "command": "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__), *sys.argv[1:]]),
        "date": start.isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - wall0, 1),
        "machine": machine_info(),
        "versions": {"nncf": nncf.__version__, "openvino": ov.__version__},
        "budget": {
            "max_drop": args.max_drop,
            "class_drop": args.class_drop,
            "frames": args.frames,
            "budget_frames": nb,
            "reference": args.reference,
        },
        "rows": rows,
    }
    print(json.dumps(rows, indent=1))
    if args.out != "-":
        p = Path(args.out)
        doc = json.loads(p.read_text()) if p.is_file() else {"schema": "edgeseg.mixed_peers/1", "runs": []}
        doc["runs"].append(run)
        from edgeseg._io import atomic_write_json

        atomic_write_json(p, doc)  # a full disk keeps the old results
    return 0


if __name__ == "__main__":
    sys.exit(main())
