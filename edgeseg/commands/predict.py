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
    return [("--out", out / f"{Path(p).stem}_{kind}.png") for p in args.images for kind in ("mask", "overlay")]


IO = Io(inputs=("model", "images"), folders=("out",), derived=_predict_names)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from edgeseg.backends import artifact_kinds

    p.add_argument("model", help=f"model file: {artifact_kinds()}")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, BMP, ...)")
    p.add_argument("-o", "--out", default="runs/predict", help="output folder, created if missing (default runs/predict)")
    p.add_argument("--alpha", type=float_in(0, 1), default=0.5, help="overlay opacity of the mask, 0..1 (default 0.5)")
    p.add_argument("--threads", type=int_in(1), default=None, help="CPU threads for the runner (default: the backend's)")


def _class_summary(label, names, top: int = 3) -> str:
    import numpy as np

    counts = np.bincount(label.ravel(), minlength=len(names))[: len(names)]
    order = np.argsort(counts)[::-1][:top]
    return ", ".join(f"{names[i]} {100 * counts[i] / label.size:.0f}%" for i in order if counts[i])


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    import cv2

    from edgeseg._io import atomic_write_bytes, ensure_writable_dir
    from edgeseg.data.image import image_size, read_image
    from edgeseg.errors import EdgesegError
    from edgeseg.backends import open_runner
    from edgeseg.segment import segment
    from edgeseg.vis import colorize, overlay, palette_lut

    if not 0.0 <= args.alpha <= 1.0:
        raise EdgesegError(f"--alpha must be between 0 and 1, found {args.alpha}")
    images = [Path(p) for p in args.images]
    stems: dict[str, Path] = {}
    for p in images:  # every input readable (header) and no two outputs colliding, before any work
        image_size(p)
        if p.stem in stems and stems[p.stem].resolve() != p.resolve():
            raise EdgesegError(f"{p} and {stems[p.stem]} would both write {p.stem}_mask.png; predict them separately")
        stems[p.stem] = p
    opts = {"threads": args.threads} if args.threads else {}
    with open_runner(args.model, **opts) as runner:
        out = ensure_writable_dir(args.out, create=True)  # after the model opened: a bad model leaves no folder
        card = runner.card
        lut = palette_lut(card.palette)
        for p in dict.fromkeys(images):
            img = read_image(p)
            t = time.perf_counter()
            label = segment(runner, [img])[0]
            ms = 1e3 * (time.perf_counter() - t)
            mask_path, over_path = out / f"{p.stem}_mask.png", out / f"{p.stem}_overlay.png"
            for dst, pic in ((mask_path, colorize(label, lut)), (over_path, overlay(img, label, lut, alpha=args.alpha))):
                ok, buf = cv2.imencode(".png", pic)
                if not ok:
                    raise EdgesegError(f"{dst}: OpenCV could not encode the PNG")
                atomic_write_bytes(dst, buf.tobytes())
            print(f"{p} -> {mask_path}, {over_path} ({img.shape[1]}x{img.shape[0]}, {ms:.0f} ms; "
                  f"{_class_summary(label, card.class_names)})")
    return 0
