"""edgeseg bench: latency / memory / mIoU of artifacts, each row in its own process, appended to a
results JSON."""

from __future__ import annotations

import argparse
from edgeseg.commands._policy import Io

HELP = (
    "benchmark checkpoints / ONNX / engines (latency, throughput, memory, mIoU, roofline) from a "
    "matrix YAML or a list"
)

IO = Io(inputs=("inputs", "data"), appends=("output",), loose=("data",))  # runs append under their own lock

DEFAULT_OUTPUT = "bench_results.json"


def _option(text: str) -> tuple[str, object]:
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. channels_last=false), found {text!r}")
    return key.strip(), yaml.safe_load(value)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from edgeseg.backends import artifact_kinds

    from edgeseg.commands._args import float_in, int_in, parse_size

    p.add_argument(
        "inputs",
        nargs="+",
        metavar="ARTIFACT_OR_MATRIX",
        help=f"a matrix .yaml (see benchmarks/), or artifacts: {artifact_kinds()}",
    )
    p.add_argument(
        "-o",
        "--output",
        default=None,
        help=f"results JSON to append the run to (default: the matrix's 'output', else {DEFAULT_OUTPUT})",
    )
    p.add_argument(
        "--size", type=parse_size, default=None, help="input HEIGHTxWIDTH (default: the card's input size)"
    )
    p.add_argument("--batch", type=int_in(1), nargs="+", default=None, help="batch sizes (default 1)")
    p.add_argument(
        "--warmup", type=int_in(0), default=None, help="untimed warm-up calls per batch size (default 10)"
    )
    p.add_argument("--runs", type=int_in(1), default=None, help="timed calls per batch size (default 50)")
    p.add_argument(
        "--profile",
        type=int_in(0),
        default=None,
        metavar="N",
        help="after the latency, N profiled runs of each OpenVINO IR / ONNX / ExecuTorch row: its time by "
        "kind of work, which the report reads against the roofline (default 0: none)",
    )
    p.add_argument(
        "--threads",
        type=int_in(1),
        default=None,
        help="CPU threads for runners and the peak (default: runner's default)",
    )
    p.add_argument(
        "--timeout",
        type=float_in(0, above=True),
        default=None,
        help="seconds per row before it is killed (default 1800)",
    )
    p.add_argument(
        "--data",
        default=None,
        help="dataset for mIoU on its val split: camvid:PATH, cityscapes:PATH, folder:PATH, synthetic[:N]",
    )
    p.add_argument("--max-frames", type=int_in(1), default=None, help="mIoU on the first N frames only")
    p.add_argument(
        "--option",
        type=_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="runner option for the artifacts given (repeatable); EXT:KEY=VALUE only for that file "
        "type, e.g. pt:channels_last=false",
    )
    p.add_argument(
        "--var",
        type=_option,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a matrix variable used as {NAME} in its paths, e.g. camvid=/data/camvid",
    )
    p.add_argument(
        "--only", nargs="+", default=None, metavar="ROW_ID", help="run only these rows of the matrix"
    )
    p.add_argument(
        "--rounds",
        type=int_in(1),
        default=None,
        metavar="N",
        help="latency passes over all rows, each row a fresh process per pass; a row reports the pass with "
        "its median p50 (default: the matrix's, else 1). Use 3+ on a shared or throttling machine",
    )
    p.add_argument(
        "--rebuild", action="store_true", help="run rows' make steps even when their artifacts exist"
    )
    p.add_argument(
        "--no-peak",
        action="store_true",
        help="skip the peak GFLOP/s / bandwidth measurement (no roofline column)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the expanded matrix as YAML and exit")


def _load(args: argparse.Namespace):
    from edgeseg.bench.matrix import load_matrix, matrix_from_artifacts, with_overrides
    from edgeseg.errors import EdgesegError

    yamls = [i for i in args.inputs if i.lower().endswith((".yaml", ".yml"))]
    if yamls:
        if len(args.inputs) != 1:
            raise EdgesegError(f"give either one matrix YAML or a list of artifacts, found {args.inputs}")
        if args.option:
            raise EdgesegError(
                "--option applies to artifacts given on the command line; set 'options' per row in the matrix"
            )
        matrix = load_matrix(yamls[0], variables={k: str(v) for k, v in args.var})
        matrix = with_overrides(
            matrix,
            size=args.size,
            batch=args.batch,
            threads=args.threads,
            warmup=args.warmup,
            runs=args.runs,
            timeout=args.timeout,
            profile=args.profile,
        )
    else:
        if args.var:
            raise EdgesegError("--var sets variables of a matrix YAML; none was given")
        kw = {
            k: v
            for k, v in dict(
                size=args.size,
                batch=args.batch,
                threads=args.threads,
                warmup=args.warmup,
                runs=args.runs,
                timeout=args.timeout,
                profile=args.profile,
            ).items()
            if v is not None
        }
        matrix = matrix_from_artifacts(args.inputs, options=dict(args.option), **kw)
    import dataclasses

    changes = {}
    if args.rounds is not None:
        if args.rounds < 1:
            raise EdgesegError(f"--rounds must be >= 1, found {args.rounds}")
        changes["rounds"] = args.rounds
    if args.data:
        changes["data"] = args.data
    if args.max_frames:
        changes["max_frames"] = args.max_frames
    if args.only:
        ids = {r.id for r in matrix.rows}
        unknown = sorted(set(args.only) - ids)
        if unknown:
            raise EdgesegError(
                f"--only: no row(s) {unknown} in the matrix; rows are {', '.join(sorted(ids))}"
            )
        changes["rows"] = tuple(r for r in matrix.rows if r.id in set(args.only))
    return dataclasses.replace(matrix, **changes)


def _check_data(spec: str | None) -> None:
    """Fail before any row runs when the dataset cannot be opened (synthetic needs no check)."""
    if spec and not spec.startswith("synthetic"):
        from edgeseg.data.datasets import open_dataset

        open_dataset(spec, "val")


def run(args: argparse.Namespace) -> int:
    from edgeseg._io import check_output_path
    from edgeseg.bench.harness import run_matrix
    from edgeseg.bench.matrix import dump_matrix
    from edgeseg.bench.schema import state_kind

    matrix = _load(args)
    if args.dry_run:
        print(dump_matrix(matrix), end="")
        return 0
    from pathlib import Path

    from edgeseg._io import ensure_writable_dir

    output = Path(args.output or matrix.output or DEFAULT_OUTPUT)
    ensure_writable_dir(output.parent if str(output.parent) else ".", create=True)
    output = check_output_path(output)
    _check_data(matrix.data)
    run_ = run_matrix(matrix, output, rebuild=args.rebuild, measure_peak=not args.no_peak)
    print(f"\n{'row':<28} {'p50 ms':>9} {'mIoU %':>7} {'x roof':>7}  state")
    for r in run_["rows"]:
        lat = (r.get("latency_ms") or {}).get("p50")
        miou = (r.get("accuracy") or {}).get("miou")
        roof = r.get("roofline_x")
        print(
            f"{r['id']:<28} {'-' if lat is None else format(lat, '.2f'):>9} "
            f"{'-' if miou is None else format(100 * miou, '.2f'):>7} "
            f"{'-' if roof is None else format(roof, '.1f'):>7}  {r['state']}"
        )
    bad = [r for r in run_["rows"] if state_kind(r["state"]) not in ("ok", "skipped")]
    print(f"appended run {run_['id']} ({len(run_['rows'])} rows) to {output}")
    if bad:
        print(f"{len(bad)} row(s) not ok: {', '.join(r['id'] for r in bad)}")
        return 1
    return 0
