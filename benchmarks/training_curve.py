#!/usr/bin/env python
"""Training curve (PNG) of a run from its ``history.json``: loss, learning rate, val points.

    python benchmarks/training_curve.py benchmarks/training/cgnet_trainval_7h30/history.json \\
        --png benchmarks/training/cgnet_trainval_7h30/loss.png --title "CGNet, CamVid train+val" \\
        [--val-label "val (in the training set)"] [--force]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("history", type=Path)
    ap.add_argument("--png", type=Path, required=True)
    ap.add_argument("--title", default="training curve")
    ap.add_argument("--val-label", default="val mIoU")
    ap.add_argument("--force", action="store_true", help="replace an existing PNG")
    args = ap.parse_args(argv)
    from edgeseg._io import atomic_write_bytes
    from edgeseg.errors import EdgesegError
    from edgeseg.report.training_chart import read_history, training_curve_png

    if args.png.suffix.lower() != ".png":
        print(f"--png: expected a file name ending in .png, found {args.png}", file=sys.stderr)
        return 2
    if args.png.exists() and not args.force:
        print(f"{args.png} exists: --force replaces it", file=sys.stderr)
        return 2
    try:
        rows = read_history(args.history)
    except EdgesegError as e:
        print(e, file=sys.stderr)
        return 2
    atomic_write_bytes(args.png, training_curve_png(rows, title=args.title, val_label=args.val_label))
    print(f"wrote {args.png} ({len(rows)} epochs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
