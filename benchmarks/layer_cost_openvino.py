#!/usr/bin/env python
"""Measure what leaving each layer in float costs on OpenVINO CPU (ms per frame), once, for reuse.

    python benchmarks/layer_cost_openvino.py CKPT --out COST.json [--size HxW] [--runs 50] [--warmup 10] \\
        [--threads N] [--keep DIR]
    edgeseg quantize CKPT ... --max-drop 0.3 --layer-cost COST.json [--prefer-cheap]

One pair of per-node profiles (the all-INT8 Q/DQ IR and the FP32 IR of CKPT at the same size), mapped
back to the layers (``edgeseg.bench.layer_cost_openvino``). Run it alone on a quiet machine: the
timings are as good as the machine is idle. Prints the coverage (units measured) and the 10 dearest
layers; the JSON records the machine, OpenVINO's version, the threads and every unit's nodes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path, help="FP32 .pt checkpoint")
    ap.add_argument("--out", type=Path, required=True, help="the layer-cost JSON to write")
    ap.add_argument("--size", default=None, metavar="HxW", help="input size (default: the card's)")
    ap.add_argument("--runs", type=int, default=None, help="timed runs of each IR (default 50)")
    ap.add_argument("--warmup", type=int, default=None, help="warm-up runs of each IR (default 10)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: OpenVINO's)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the ONNX files and IRs in this folder")
    args = ap.parse_args(argv)
    from edgeseg._io import check_output_path
    from edgeseg.bench.layer_cost_openvino import measure_checkpoint, write_cost_file
    from edgeseg.commands._args import parse_size

    if args.out.resolve() == args.checkpoint.resolve() or args.out.suffix.lower() != ".json":
        ap.error(f"--out {args.out}: expected a new .json path, not the checkpoint")
    check_output_path(args.out)
    opts = {k: v for k, v in (("runs", args.runs), ("warmup", args.warmup)) if v is not None}
    table = measure_checkpoint(
        args.checkpoint,
        size=parse_size(args.size) if args.size else None,
        threads=args.threads,
        workdir=args.keep,
        **opts,
    )
    write_cost_file(table, args.out)
    costs = table["costs"]
    known = {u: c for u, c in costs.items() if c is not None}
    print(f"wrote {args.out}: {len(known)} of {len(costs)} units measured; {table['label']}")
    for u, why in table["missing"].items():
        print(f"  not measured: {u}: {why}")
    for u, c in sorted(known.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {c:+.4f} ms  {u}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
