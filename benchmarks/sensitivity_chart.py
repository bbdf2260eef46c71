#!/usr/bin/env python
"""Per-layer sensitivity chart (PNG) and trade-off table (Markdown) from saved results.

    python benchmarks/sensitivity_chart.py SENSITIVITY.json [--mixed PLAN.json | --card INT8.onnx] \\
        --png out.png [--title TEXT]

SENSITIVITY.json: what ``edgeseg.quant.sensitivity.layer_sensitivity`` returned (saved as JSON);
the mixed record: the card's ``extra.quantization.mixed`` (``--card`` reads it from the Q/DQ ONNX that
``edgeseg quantize --max-drop`` wrote) or a saved ``FallbackPlan.to_dict()`` (``--mixed``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sensitivity", type=Path)
    ap.add_argument("--mixed", type=Path, default=None)
    ap.add_argument("--card", type=Path, default=None)
    ap.add_argument("--png", type=Path, required=True)
    ap.add_argument("--title", default="")
    args = ap.parse_args(argv)
    from edgeseg._io import atomic_write_bytes
    from edgeseg.report.sensitivity_chart import sensitivity_chart, tradeoff_table

    sens = json.loads(args.sensitivity.read_text(encoding="utf-8"))
    mixed = None
    if args.card is not None:
        from edgeseg.card import card_from_onnx

        mixed = card_from_onnx(args.card).extra.get("quantization", {}).get("mixed")
    elif args.mixed is not None:
        mixed = json.loads(args.mixed.read_text(encoding="utf-8"))
    chart = sensitivity_chart(sens, mixed=mixed, title=args.title)
    if chart.png is None:
        print(f"no chart: {chart.note}", file=sys.stderr)
        return 1
    atomic_write_bytes(args.png, chart.png)
    print(f"wrote {args.png}")
    if mixed:
        print(tradeoff_table(mixed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
