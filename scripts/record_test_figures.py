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
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from edgeseg._io import atomic_write_text
    from edgeseg.card import read_sidecar

    stamp = {"measured": dt.date.today().isoformat(), "cpu": _cpu()}
    table = json.loads(OUT.read_text()) if OUT.is_file() else {"models": {}}
    for path in args.results:
        pt, slot, rec = figure(json.loads(path.read_text()), where=str(path))
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
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
