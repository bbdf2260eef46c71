#!/usr/bin/env python
"""CGNet's cpu-target Q/DQ file with and without its deploy form (issue 31), from one quantized checkpoint
and the same calibration frames: label agreement between the two on val frames, with FP32, and mIoU of
each (ONNX Runtime, CPU EP). Light: no timing (``benchmarks/cgnet_int8_cpu.py`` times them).

    python benchmarks/cpu_deploy_form_check.py benchmarks/build/cgnet_qat.pt \\
        --data camvid:/work/shared/datasets/camvid --dir /tmp/cdf --frames 8 --calib-num 16

Writes fp32.onnx, cpu_deploy.onnx and cpu_plain.onnx into ``--dir`` (kept for ``edgeseg build`` /
``edgeseg profile``; an existing cpu_*.onnx there is reused). Frames: ``--frames`` evenly spaced val frames.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def miou(pred: np.ndarray, labels: np.ndarray, *, classes: int, ignore: int) -> float:
    """Mean IoU over the classes present in ``pred`` or ``labels`` (one confusion matrix over all frames)."""
    m = labels != ignore
    conf = np.bincount(classes * labels[m].astype(int) + pred[m], minlength=classes * classes)
    conf = conf.reshape(classes, classes)
    tp = np.diag(conf)
    union = conf.sum(0) + conf.sum(1) - tp
    return float(np.mean(tp[union > 0] / union[union > 0]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", help="edgeseg quantize --method qat|ptq --save-checkpoint PT")
    ap.add_argument("--data", required=True, help="dataset spec: calibration from train, labels from val")
    ap.add_argument("--fp32", default=str(ROOT / "edgeseg/weights/cgnet_camvid.pt"), help="FP32 checkpoint")
    ap.add_argument("--dir", required=True, help="folder for the ONNX files")
    ap.add_argument("--frames", type=int, default=8, help="val frames, evenly spaced (default 8)")
    ap.add_argument("--calib-num", type=int, default=16, help="frames for the output ranges (default 16)")
    args = ap.parse_args(argv)
    if args.frames < 1 or args.calib_num < 1:
        ap.error(f"--frames and --calib-num must be >= 1, found {args.frames}, {args.calib_num}")
    if not Path(args.checkpoint).is_file():
        ap.error(f"{args.checkpoint}: file not found")

    import onnxruntime as ort

    from edgeseg.data.calib import CalibrationSet
    from edgeseg.data.datasets import open_dataset
    from edgeseg.data.preprocess import preprocess
    from edgeseg.export.onnx import export_onnx
    from edgeseg.quant.retarget import export_for_target
    from edgeseg.train.checkpoint import load_checkpoint

    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    model, card, _ = load_checkpoint(args.fp32)
    size = tuple(card.input_size)
    files = {"fp32": export_onnx(model, card, out / "fp32.onnx")}
    calib = CalibrationSet(args.data, card, num=args.calib_num, batch=8)
    for name, deploy in (("deploy", True), ("plain", False)):
        p = out / f"cpu_{name}.onnx"
        files[name] = (
            p
            if p.is_file()
            else export_for_target(
                args.checkpoint, p, target="cpu", calib=calib, deploy_form=deploy, log=print
            )
        )
    ds = open_dataset(args.data, "val", size=size)
    idx = list(range(0, len(ds), max(1, len(ds) // args.frames)))[: args.frames]
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = {k: ort.InferenceSession(str(v), so, providers=["CPUExecutionProvider"]) for k, v in files.items()}
    preds: dict[str, list[np.ndarray]] = {k: [] for k in sess}
    labels = []
    for i in idx:
        img, lab = ds[i]
        x = preprocess([img], card, size=size)
        for k, s in sess.items():
            preds[k].append(s.run(None, {s.get_inputs()[0].name: x})[0].argmax(1)[0])
        labels.append(lab)
    p = {k: np.stack(v) for k, v in preds.items()}
    lab = np.stack(labels)
    print(f"val frames {idx}")
    for k in p:
        m = miou(p[k], lab, classes=card.num_classes, ignore=card.ignore_index)
        print(
            f"{k:7s} mIoU {100 * m:.2f} %  label agreement with fp32 {100 * (p[k] == p['fp32']).mean():.2f} %"
        )
    print(f"deploy vs plain: label agreement {100 * (p['deploy'] == p['plain']).mean():.2f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
