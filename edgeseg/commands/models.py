"""``edgeseg models``: every registered model with its parameter count and GFLOPs at an input size."""

from __future__ import annotations

import argparse
import json
import sys
from edgeseg.commands._policy import Io

from edgeseg._validate import parse_size
from edgeseg.commands._args import int_in
from edgeseg.errors import EdgesegError

HELP = (
    "list the registered architectures with parameters and GFLOPs (2 x MACs) at an input size, and the "
    "shipped trained models (names for edgeseg.load / predict)"
)

IO = Io()  # prints only

FLOPS_NOTE = "GFLOPs = 1e9 x (2 x multiply-accumulates of conv + matmul), one forward pass of a 1x3xHxW input"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--size", default="360x480", metavar="HxW", help="input height x width (default 360x480)"
    )
    parser.add_argument(
        "--classes", type=int_in(1), default=11, metavar="N", help="number of classes (default 11, CamVid)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")


def shipped_rows() -> list[dict]:
    """One row per shipped model: name, file, arch, precision, val mIoU (from its card; None when
    unrecorded)."""
    from edgeseg._shipped import shipped_models
    from edgeseg.backends import read_card

    rows = []
    for name, path in shipped_models().items():
        card = read_card(path)
        q = (card.extra.get("quantization") or {}).get("val") or {}
        miou = q.get("int8_miou", card.metrics.get("val_miou"))
        rows.append(
            {
                "name": name,
                "file": path.name,
                "arch": card.arch,
                "precision": card.precision,
                "val_miou": None if miou is None else round(float(miou), 4),
                "test_miou": _test_miou(path, qat=card.precision == "int8"),
                # a train+val run (the paper's protocol) has seen its val frames: its val figure is no test
                "val_in_training": "--train-split trainval" in str((card.training or {}).get("command", "")),
            }
        )
    return rows


def _test_miou(path, *, qat: bool) -> float | None:
    """The test-split mIoU recorded in the sidecar card of the shipped ``.pt`` (``metrics["test"]``,
    scripts/record_test_figures.py): FP32 for the ``.pt``, ONNX Runtime's for its QAT file."""
    from edgeseg.card import read_sidecar

    pt = path.with_name(path.name.replace("_qat_int8.onnx", ".pt"))
    try:
        test = read_sidecar(pt).metrics.get("test") or {}
    except EdgesegError:
        return None
    got = test.get("qat_int8_onnxruntime" if qat else "fp32") or {}
    return None if got.get("miou") is None else round(float(got["miou"]), 4)


def run(args: argparse.Namespace) -> int:
    size = parse_size(args.size, where="--size")
    if args.classes < 1:
        raise EdgesegError(f"--classes: expected a number of classes >= 1, found {args.classes}")

    from edgeseg.bench.flops import model_complexity
    from edgeseg.models import MODELS

    h, w = size
    rows = []
    if not args.json:
        width = max(len(n) for n in MODELS)
        print(f"{'model':<{width}}  {'params':>12}  {f'GFLOPs@{h}x{w}':>14}", flush=True)
    for name in MODELS:  # in registry order, one line as soon as it is counted
        c = model_complexity(name, num_classes=args.classes, size=size)
        rows.append(
            {
                "name": name,
                "params": c["params"],
                "flops": round(c["gflops"] * 1e9),
                "gflops": round(c["gflops"], 3),
            }
        )
        if not args.json:
            print(f"{name:<{width}}  {c['params']:>12,}  {c['gflops']:>14.2f}", flush=True)
    shipped = shipped_rows()
    if args.json:
        out = {
            "size": [h, w],
            "num_classes": args.classes,
            "flops_definition": FLOPS_NOTE,
            "models": rows,
            "shipped": shipped,
        }
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"({args.classes} classes; {FLOPS_NOTE})")
        print("\nshipped, trained on CamVid (edgeseg.load(NAME), edgeseg predict NAME IMAGE):")
        nw = max((len(r["name"]) for r in shipped), default=4)
        for r in shipped:
            miou = "-" if r["val_miou"] is None else f"{100 * r['val_miou']:.2f} %"
            miou += "*" if r["val_in_training"] else " "
            test = "-" if r["test_miou"] is None else f"{100 * r['test_miou']:.2f} %"
            print(
                f"{r['name']:<{nw}}  {r['arch']:<26} {r['precision']:<5} "
                f"val mIoU {miou:>9}  test mIoU {test:>8}"
            )
        if any(r["val_in_training"] for r in shipped):
            print("* trained on train+val: its val frames were in its training set; read its test mIoU")
    return 0
