"""``edgeseg trt-check``: run the real-TensorRT tests on this machine (a Jetson or an NVIDIA GPU) and
write edgeseg-jetson-report.json / .md to send back (docs/jetson.md)."""

from __future__ import annotations

import argparse
import shlex
import sys
from edgeseg.commands._policy import Io

from edgeseg.commands._args import positive_int

HELP = "run the real-TensorRT tests here and write edgeseg-jetson-report.json/.md to send back"

IO = Io(inputs=("data", "onnx", "int8_onnx"), folders=("output_dir",), loose=("data",))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        default=None,
        metavar="SPEC",
        help="labelled dataset (e.g. camvid:/data/CamVid) for the FP16/INT8 mIoU checks of the shipped "
        "CamVid model; without it those checks are skipped (and say so)",
    )
    p.add_argument(
        "--onnx",
        default=None,
        metavar="FILE",
        help="FP32 ONNX of the shipped model (default: exported from edgeseg/weights/cgnet_camvid.pt; "
        "needs torch)",
    )
    p.add_argument(
        "--int8-onnx",
        default=None,
        metavar="FILE",
        help="its Q/DQ INT8 ONNX (default: made with edgeseg quantize --method ptq if torch is here, "
        "else implicit calibration on TensorRT 8.6/10.x)",
    )
    p.add_argument(
        "--max-frames",
        type=positive_int,
        default=None,
        metavar="N",
        help="evaluate the first N val frames only",
    )
    p.add_argument(
        "-o", "--output-dir", default=".", metavar="DIR", help="where the report files go (default: here)"
    )


def run(args: argparse.Namespace) -> int:
    from edgeseg.backends.tensorrt.check.report import run_check

    command = (
        shlex.join(["edgeseg", *sys.argv[1:]]) if sys.argv[1:2] == ["trt-check"] else "edgeseg trt-check"
    )
    print(
        "running the real-TensorRT tests (pytest -m tensorrt); this builds several engines and takes "
        "minutes ..."
    )
    report = run_check(
        out_dir=args.output_dir,
        data=args.data,
        onnx=args.onnx,
        qdq_onnx=args.int8_onnx,
        max_frames=args.max_frames,
        command=command,
    )
    for t in report["tests"]:
        print(
            f"  {t['outcome']:8s} {t['name']}"
            + (f"  ({t['message']})" if t["message"] and t["outcome"] != "passed" else "")
        )
    print(f"verdict: {report['verdict']} ({report['pytest']['summary'] or 'no pytest summary'})")
    print("wrote " + ", ".join(report["files"]) + " — please send the .json (or paste the .md) back")
    return 0 if report["verdict"] == "pass" else 1
