#!/usr/bin/env python
"""Record the CamVid **test** figures of the shipped models, measured once with ``edgeseg eval``, into
each model's sidecar card (``metrics["test"]``) and into ``benchmarks/results/test_split.json``.

    edgeseg eval edgeseg/weights/fcn_camvid.pt --data camvid:../shared/datasets/camvid --split test \\
        --threads 2 --no-progress --json /tmp/testsplit/fcn_fp32.json
    edgeseg eval edgeseg/weights/fcn_camvid_qat_int8.onnx --data camvid:../shared/datasets/camvid \\
        --split test --threads 2 --no-progress --json /tmp/testsplit/fcn_qat_int8_ort.json
    python scripts/record_test_figures.py /tmp/testsplit/*.json

Each JSON must be an ``edgeseg eval --json`` result of a file in ``edgeseg/weights`` on the test split;
its figure goes under ``fp32`` (the ``.pt``) or ``qat_int8_onnxruntime`` (the QAT ``.onnx``, run by
ONNX Runtime). The weights are not touched: the card embedded in a ``.pt`` stays the one it was trained
with, and the sidecar ``.card.json`` beside it gains the test figures (the README's rule: test reports
weights fixed in advance and chooses nothing).

A figure a card already records is measured: replacing it needs ``--force``. Every input is read and
checked before anything is written; a bad one stops the script with one line naming it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "edgeseg" / "weights"
OUT = ROOT / "benchmarks" / "results" / "test_split.json"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def read_result(path: Path) -> dict:
    """One ``edgeseg eval --json`` result, or a one-line exit naming the file and what was wrong."""
    try:
        result = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SystemExit(f"{path}: expected an edgeseg eval --json file, could not read it ({e})") from None
    keys = ("model", "dataset", "miou", "pixel_accuracy", "per_class_iou", "frames")
    if not isinstance(result, dict) or any(k not in result for k in keys):
        raise SystemExit(f"{path}: expected an edgeseg eval --json result with keys {', '.join(keys)}")
    return result


def figure(result: dict, *, where: str) -> tuple[str, str, dict]:
    """(shipped .pt name, slot, record) for one ``edgeseg eval --json`` result."""
    if "[test]" not in str(result.get("dataset", "")):
        raise SystemExit(
            f"{where}: expected an eval of the test split, found dataset {result.get('dataset')!r}"
        )
    model = Path(result["model"]).name
    if model.endswith("_qat_int8.onnx"):
        pt, slot = model.replace("_qat_int8.onnx", ".pt"), "qat_int8_onnxruntime"
    elif model.endswith(".pt"):
        pt, slot = model, "fp32"
    else:
        raise SystemExit(f"{where}: expected a shipped .pt or *_qat_int8.onnx, found {model}")
    if not (WEIGHTS / pt).is_file():
        raise SystemExit(f"{where}: {pt} is not a shipped model in {WEIGHTS}")
    rec = {
        "miou": round(float(result["miou"]), 6),
        "pixel_accuracy": round(float(result["pixel_accuracy"]), 6),
        "per_class_iou": {k: round(float(v), 6) for k, v in result["per_class_iou"].items()},
        "frames": int(result["frames"]),
        "backend": result.get("backend"),
        "precision": result.get("precision"),
        "command": (
            f"edgeseg eval {result['model']} --data {str(result['dataset']).split(' [')[0]} --split test"
        ),
        "seconds": result.get("seconds"),
    }
    return pt, slot, rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", type=Path, help="edgeseg eval --json files of the test split")
    ap.add_argument("--force", action="store_true", help="replace a test figure a card already records")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from edgeseg._io import atomic_write_text
    from edgeseg.card import read_sidecar

    stamp = {"measured": dt.date.today().isoformat(), "cpu": _cpu()}
    table = json.loads(OUT.read_text()) if OUT.is_file() else {"models": {}}
    figures = [figure(read_result(path), where=str(path)) for path in args.results]
    seen: dict[tuple[str, str], int] = {}
    for i, (pt, slot, _) in enumerate(figures):
        if (pt, slot) in seen:
            raise SystemExit(f"{args.results[i]}: {pt} {slot} is also in {args.results[seen[pt, slot]]}")
        seen[pt, slot] = i
        old = (read_sidecar(WEIGHTS / pt).metrics.get("test") or {}).get(slot)
        if old and not args.force:
            raise SystemExit(
                f"{args.results[i]}: {pt} already records a test {slot} figure "
                f"({100 * float(old['miou']):.2f} %, {old.get('measured')}); --force replaces it"
            )
    for pt, slot, rec in figures:
        entry = table["models"].setdefault(pt[: -len(".pt")], {})
        entry[slot] = {**rec, **stamp}
        card = read_sidecar(WEIGHTS / pt)
        test = dict(card.metrics.get("test") or {})
        test[slot] = {**rec, **stamp}
        card.replace(metrics={**card.metrics, "test": test}).write_sidecar(WEIGHTS / pt)
        print(f"{pt}: test {slot} mIoU {100 * rec['miou']:.2f} %")
    table["note"] = (
        "CamVid test split (233 frames, 360x480), each shipped file measured once as shipped; "
        "nothing was chosen on these figures (scripts/record_test_figures.py)"
    )
    atomic_write_text(OUT, json.dumps(table, indent=2, sort_keys=True) + "\n")
    print(f"wrote {OUT.relative_to(ROOT) if OUT.is_relative_to(ROOT) else OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
