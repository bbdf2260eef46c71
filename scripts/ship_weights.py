#!/usr/bin/env python
"""Copy a trained checkpoint into edgeseg/weights/ as ``<arch>_camvid.pt`` with its card sidecar, the
card's training section saying which route produced it (what the zoo issue asks every shipped model
to carry).

    python scripts/ship_weights.py runs/fcn_cpu_2h30/final.pt \\
        --route "CPU: --time 2h30m, --recipe auto (= cpu), 2-core VM, CamVid train, from scratch" \\
        --note "what else shared the machine" [--half]

``--half`` stores the weights in float16 (``save_half_checkpoint``; for models over ~2.5 M parameters,
to stay under 12 MB): run ``edgeseg eval`` on both files afterwards and keep it only if they agree
within 0.05 point. Optimizer and scheduler state are dropped either way. The written file is checked
to load before the script reports success; the source file is never changed.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ship(
    src: Path,
    *,
    route: str,
    note: str | None,
    half: bool,
    dest_dir: Path,
    name: str | None,
    force: bool = False,
) -> Path:
    """Write the shipped copy of ``src`` into ``dest_dir``; a model already shipped there is replaced only
    with ``force`` (default False: a one-line exit before anything is read or written)."""
    import torch

    from edgeseg._io import atomic_write_bytes
    from edgeseg.card import ModelCard
    from edgeseg.train.checkpoint import load_checkpoint, read_checkpoint, save_half_checkpoint

    if name is not None and not name.endswith(".pt"):
        raise SystemExit(f"--name: expected a file name ending in .pt, found {name!r}")
    if not force and name is not None and (dest_dir / name).exists():
        raise SystemExit(f"{dest_dir / name} exists (a shipped model): --force replaces it")
    payload = read_checkpoint(src)
    card = ModelCard.from_dict(payload["card"], where=str(src))
    if not card.training.get("command"):
        raise SystemExit(
            f"{src}: its card records no training command; ship only checkpoints written by edgeseg train"
        )
    if not card.metrics.get("val_miou"):
        raise SystemExit(
            f"{src}: its card has no val_miou (train with --val-every, or run edgeseg eval first)"
        )
    training = {**card.training, "route": route, **({"note": note} if note else {})}
    payload["card"] = card.replace(training=training).to_dict()
    for key in ("optimizer", "scheduler"):
        payload.pop(key, None)
    dst = dest_dir / (name or f"{card.arch}_camvid.pt")
    if dst.exists() and not force:
        raise SystemExit(f"{dst} exists (a shipped model): --force replaces it")
    buf = io.BytesIO()
    torch.save(payload, buf)
    if half:
        tmp = dst.with_name(dst.name + ".fp32.tmp")
        atomic_write_bytes(tmp, buf.getvalue())
        try:
            save_half_checkpoint(tmp, dst)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        atomic_write_bytes(dst, buf.getvalue())
    _, shipped, _ = load_checkpoint(dst)  # it loads, and its card is the one written beside it
    shipped.write_sidecar(dst)
    return dst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path, help="the trained checkpoint (runs/<name>/final.pt)")
    ap.add_argument(
        "--route", required=True, help="how it was trained, in one line (recorded as training.route)"
    )
    ap.add_argument(
        "--note", default=None, help="anything a reader of the figure should know (training.note)"
    )
    ap.add_argument("--half", action="store_true", help="store the weights in float16 (default: as trained)")
    ap.add_argument("--name", default=None, help="file name in --dest (default <arch>_camvid.pt)")
    ap.add_argument("--dest", type=Path, default=ROOT / "edgeseg" / "weights", help="default edgeseg/weights")
    ap.add_argument("--force", action="store_true", help="replace a model already shipped under that name")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from edgeseg.errors import EdgesegError

    try:
        dst = ship(
            args.checkpoint,
            route=args.route,
            note=args.note,
            half=args.half,
            dest_dir=args.dest,
            name=args.name,
            force=args.force,
        )
    except EdgesegError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{dst} ({dst.stat().st_size / 2**20:.2f} MiB) + {dst.name}.card.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
