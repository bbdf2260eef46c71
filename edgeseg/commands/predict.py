"""edgeseg predict: segment images with any model file; write a colour mask and an overlay per image."""

from __future__ import annotations

import argparse
from edgeseg.commands._policy import Io

from edgeseg.commands._args import float_in, int_in

HELP = "segment images with a checkpoint / ONNX / engine: writes <stem>_mask.png and <stem>_overlay.png"


def _predict_names(args: argparse.Namespace) -> list:
    """out/<stem>_mask.png and out/<stem>_overlay.png for every image."""
    from pathlib import Path

    out = Path(args.out)
    return [
        ("--out", out / f"{Path(p).stem}_{kind}.png") for p in args.images for kind in ("mask", "overlay")
    ]


IO = Io(inputs=("model", "images"), folders=("out",), derived=_predict_names)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from edgeseg.backends import artifact_kinds

    p.add_argument(
        "model",
        help=f"model file ({artifact_kinds()}) or a shipped name such as cgnet_camvid (edgeseg models)",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, BMP, ...)")
    p.add_argument(
        "-o", "--out", default="runs/predict", help="output folder, created if missing (default runs/predict)"
    )
    p.add_argument(
        "--alpha", type=float_in(0, 1), default=0.5, help="overlay opacity of the mask, 0..1 (default 0.5)"
    )
    p.add_argument(
        "--no-legend",
        action="store_true",
        help="leave out the legend of the classes present (default: drawn)",
    )
    p.add_argument(
        "--threads", type=int_in(1), default=None, help="CPU threads for the runner (default: the backend's)"
    )


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from edgeseg._io import atomic_set
    from edgeseg.api import load
    from edgeseg.data.image import image_size
    from edgeseg.errors import EdgesegError

    if not 0.0 <= args.alpha <= 1.0:
        raise EdgesegError(f"--alpha must be between 0 and 1, found {args.alpha}")
    images = [Path(p) for p in args.images]
    stems: dict[str, Path] = {}
    for p in images:  # every input readable (header) and no two outputs colliding, before any work
        image_size(p)
        if p.stem in stems and stems[p.stem].resolve() != p.resolve():
            raise EdgesegError(
                f"{p} and {stems[p.stem]} would both write {p.stem}_mask.png; predict them separately"
            )
        stems[p.stem] = p
    out = Path(args.out)
    lines = []
    with load(args.model, threads=args.threads) as model, atomic_set(out) as stage:
        # all masks and overlays, or none: they are staged beside the folder and moved in at the end
        for p in dict.fromkeys(images):
            t = time.perf_counter()
            res = model.predict(p)
            ms = 1e3 * (time.perf_counter() - t)
            res.save(stage / f"{p.stem}_mask.png", kind="mask", legend=not args.no_legend)
            res.save(stage / f"{p.stem}_overlay.png", alpha=args.alpha, legend=not args.no_legend)
            h, w = res.labels.shape
            top = ", ".join(f"{n} {100 * a:.0f}%" for n, a in list(res.class_areas().items())[:3])
            lines.append(
                f"{p} -> {out / (p.stem + '_mask.png')}, {out / (p.stem + '_overlay.png')} "
                f"({w}x{h}, {ms:.0f} ms; {top})"
            )
    print("\n".join(lines))
    return 0
