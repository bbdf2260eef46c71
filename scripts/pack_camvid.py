#!/usr/bin/env python
"""Pack CamVid compactly for a GPU machine reached through a size-capped copy (the device tool carries
64 MiB a call): frames re-encoded as JPEG (quality 95 by default), labels copied byte for byte, and the
``train.txt`` / ``val.txt`` list files rewritten, so ``camvid:OUT`` opens it like the original.

    python scripts/pack_camvid.py ../shared/datasets/camvid -o data/camvid_packed   # ~35 MB
    edgeseg train --model cgnet --data camvid:data/camvid_packed --train-split trainval ...

JPEG is lossy (CamVid train+val at q95: 34 MiB, a pixel moves by 1.6 grey levels on average and up to 89 at
sharp edges; the script prints both): train on the packed frames, but quote val mIoU from ``edgeseg eval``
on the original PNG frames. Splits default to train and val (the test split is withheld here). The output
folder must not exist; it is written beside itself under a temporary name and renamed when complete, so an
interrupted run leaves no half-packed dataset behind.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pack(
    src: Path, out: Path, *, splits: tuple[str, ...] = ("train", "val"), quality: int = 95
) -> dict[str, float]:
    """Write the packed copy of ``src``'s ``splits`` to ``out``; returns size and JPEG error figures."""
    import cv2
    import numpy as np

    from edgeseg.data.datasets import read_list
    from edgeseg.errors import DataError

    if not 1 <= quality <= 100:
        raise DataError(f"--quality: expected 1..100, found {quality}")
    if out.exists():
        raise DataError(
            f"{out}: the output folder already exists (expected a new path; remove it or pick another)"
        )
    lists = {s: read_list(src / f"{s}.txt", src) for s in splits}  # every input checked before any output
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    abs_err: list[float] = []
    max_err = 0
    try:
        for split, pairs in lists.items():
            (tmp / split).mkdir()
            (tmp / f"{split}annot").mkdir()
            lines = []
            for img_path, lab_path in pairs:
                img = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
                if img is None:
                    raise DataError(f"{img_path}: not a readable image")
                name = img_path.stem + ".jpg"
                ok, enc = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
                if not ok:
                    raise DataError(f"{img_path}: JPEG encoding failed")
                (tmp / split / name).write_bytes(enc.tobytes())
                diff = np.abs(cv2.imdecode(enc, cv2.IMREAD_COLOR).astype(np.int16) - img.astype(np.int16))
                abs_err.append(float(diff.mean()))
                max_err = max(max_err, int(diff.max()))
                shutil.copyfile(lab_path, tmp / f"{split}annot" / lab_path.name)
                lines.append(f"{split}/{name} {split}annot/{lab_path.name}")
            (tmp / f"{split}.txt").write_text("\n".join(lines) + "\n")
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {
        "frames": float(sum(len(p) for p in lists.values())),
        "mib": size / 2**20,
        "mean_abs_err": sum(abs_err) / max(len(abs_err), 1),
        "max_abs_err": float(max_err),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path, help="CamVid root with train.txt / val.txt")
    ap.add_argument("-o", "--output", type=Path, required=True, help="new folder to write")
    ap.add_argument(
        "--splits", nargs="+", default=["train", "val"], help="list files to pack (default: train val)"
    )
    ap.add_argument("--quality", type=int, default=95, help="JPEG quality (default 95)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from edgeseg.errors import EdgesegError

    try:
        r = pack(args.src, args.output, splits=tuple(args.splits), quality=args.quality)
    except EdgesegError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"{args.output}: {int(r['frames'])} frames, {r['mib']:.1f} MiB; JPEG q{args.quality} error "
        f"mean {r['mean_abs_err']:.2f}, max {int(r['max_abs_err'])} grey levels"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
