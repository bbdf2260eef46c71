"""``edgeseg export``: parses the command line and calls ``edgeseg.export.export_checkpoint``."""

from __future__ import annotations

import argparse
from edgeseg.commands._policy import Io

from edgeseg.commands._args import float_in, int_in, size_in

HELP = (
    "export a checkpoint to ONNX (model card in metadata) and check ONNX Runtime against PyTorch "
    "on real frames"
)


def _export_default(args: argparse.Namespace) -> list:
    from pathlib import Path

    return [] if args.output else [("--output", Path(args.checkpoint).with_suffix(".onnx"))]


IO = Io(
    inputs=("checkpoint", "parity_data"),
    files=("output",),
    derived=_export_default,
    precision=lambda args: {"--output": "fp32"},
    loose=("parity_data",),
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from edgeseg.card import HEADS
    from edgeseg.export.checked import MAX_SIDE, MIN_SIDE, PARITY_FRAMES
    from edgeseg.export.parity import DEFAULT_AGREE_MIN, DEFAULT_ATOL, DEFAULT_RTOL

    p.add_argument("checkpoint", help="edgeseg .pt checkpoint")
    p.add_argument(
        "-o", "--output", default=None, help="output .onnx (default: the checkpoint path with .onnx)"
    )
    p.add_argument(
        "--size",
        type=size_in(MIN_SIDE, MAX_SIDE),
        default=None,
        help=f"input HEIGHTxWIDTH, sides {MIN_SIDE}..{MAX_SIDE} (default: the card's input_size)",
    )
    p.add_argument(
        "--batch", type=int_in(1), default=1, help="static batch size (default 1; ignored with --dynamic)"
    )
    p.add_argument("--dynamic", action="store_true", help="dynamic batch, height and width")
    p.add_argument("--opset", type=int_in(17), default=17, help="ONNX opset (default 17, the minimum)")
    p.add_argument(
        "--simplify", action="store_true", help="simplify the graph with onnxslim (card kept, re-checked)"
    )
    p.add_argument(
        "--head",
        choices=HEADS,
        default="logits",
        help="what the graph ends in: logits (default, N x C x H x W float32), labels (their arg-max, "
        "N x 1 x H x W uint8) or labels-lowres (the arg-max at the logits' own resolution, then a "
        "nearest resize of the labels); recorded in the card",
    )
    p.add_argument(
        "--parity-data",
        default=None,
        metavar="SPEC",
        help=f"dataset for the parity check, first {PARITY_FRAMES} val frames: camvid:PATH, cityscapes:PATH, "
        "folder:PATH or synthetic[:N] (default: synthetic street scenes at the export size)",
    )
    p.add_argument(
        "--atol",
        type=float_in(0),
        default=DEFAULT_ATOL,
        help=f"parity: absolute logit tolerance (default {DEFAULT_ATOL:g})",
    )
    p.add_argument(
        "--rtol",
        type=float_in(0),
        default=DEFAULT_RTOL,
        help=f"parity: relative logit tolerance (default {DEFAULT_RTOL:g})",
    )
    p.add_argument(
        "--agree-min",
        type=float_in(0, 100, above=True),
        default=100 * DEFAULT_AGREE_MIN,
        help=f"parity: minimum argmax agreement in %% (default {100 * DEFAULT_AGREE_MIN:g})",
    )


def run(args: argparse.Namespace) -> int:
    from edgeseg.backends import open_runner
    from edgeseg.export import export_checkpoint

    result = export_checkpoint(
        args.checkpoint,
        output=args.output,
        size=args.size,
        batch=args.batch,
        dynamic=args.dynamic,
        opset=args.opset,
        simplify=args.simplify,
        parity_data=args.parity_data,
        atol=args.atol,
        rtol=args.rtol,
        agree_min=args.agree_min / 100,
        head=args.head,
        open_onnx=open_runner,
    )
    print(result.summary())
    return 0
