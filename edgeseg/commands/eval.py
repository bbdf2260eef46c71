"""edgeseg eval: full-resolution mIoU of any model file (checkpoint, ONNX, engine) on a dataset."""

from __future__ import annotations

import argparse
from edgeseg.commands._policy import Io

from edgeseg.commands._args import int_in

HELP = (
    "evaluate a checkpoint / ONNX / engine on a dataset: per-class IoU, mIoU, pixel accuracy, "
    "confusion matrix"
)

IO = Io(inputs=("model", "data"), files=("json_out",), loose=("data",))


def add_arguments(p: argparse.ArgumentParser) -> None:
    from edgeseg.backends import artifact_kinds

    p.add_argument("model", help=f"model file: {artifact_kinds()}")
    p.add_argument("--data", required=True, help="camvid:PATH, cityscapes:PATH, folder:PATH or synthetic[:N]")
    p.add_argument("--split", default="val", help="dataset split (default val)")
    p.add_argument("--max-frames", type=int_in(1), default=None, help="evaluate the first N frames only")
    p.add_argument("--bad-labels", choices=("error", "ignore"), default="error")
    p.add_argument(
        "--json",
        dest="json_out",
        default=None,
        metavar="FILE",
        help="also write the metrics (with confusion matrix) as JSON",
    )
    p.add_argument("--threads", type=int_in(1), default=None, help="CPU threads for the runner")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from edgeseg._io import atomic_write_json, check_output_path
    from edgeseg.data.datasets import open_dataset
    from edgeseg.backends import open_runner
    from edgeseg.train.evaluate import evaluate, format_table

    if args.json_out:
        check_output_path(args.json_out)
    opts = {"threads": args.threads} if args.threads else {}
    with open_runner(args.model, **opts) as runner:
        size = runner.card.input_size
        ds = open_dataset(args.data, args.split, bad_labels=args.bad_labels, size=size)
        res = evaluate(runner, ds, max_frames=args.max_frames, progress=not args.no_progress)
        res.update(model=str(args.model), backend=runner.backend, precision=runner.precision)
    print(f"{args.model} [{res['backend']} {res['precision']}] on {res['dataset']}, {res['frames']} frames:")
    print(format_table(res))
    if ds.bad_label_pixels:
        print(f"note: {ds.bad_label_pixels} label pixels outside the classes were counted as ignore")
    if args.json_out:
        atomic_write_json(args.json_out, res)
        print(f"wrote {args.json_out}")
    return 0
