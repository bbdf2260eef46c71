"""``edgeseg profile MODEL.onnx | MODEL.xml``: where the time goes on ONNX Runtime or OpenVINO (per op
type, slowest nodes)."""

from __future__ import annotations

import argparse
import json
from edgeseg.commands._policy import Io

from edgeseg.commands._args import nonneg_int, parse_size, positive_int

HELP = "profile an ONNX model on ONNX Runtime or an OpenVINO IR (CPU): time per op type and the slowest nodes"


def _precheck(args: argparse.Namespace) -> None:
    """Only ONNX models and OpenVINO IRs are profiled: said before the file is read."""
    from edgeseg.errors import EdgesegError

    if not str(args.model).lower().endswith((".onnx", ".xml")):
        raise EdgesegError(
            f"{args.model}: expected an .onnx file or an OpenVINO .xml (profile a checkpoint by "
            "exporting it: edgeseg export)"
        )


IO = Io(inputs=("model",), files=("json",), precheck=_precheck)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model", help="MODEL.onnx (an export, a build output or a Q/DQ ONNX) or MODEL.xml (an OpenVINO IR)"
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        metavar="N",
        help="threads (default: ORT's; for an IR the threads its card records)",
    )
    p.add_argument("--runs", type=positive_int, default=20, metavar="N", help="profiled runs (default 20)")
    p.add_argument(
        "--warmup", type=nonneg_int, default=5, metavar="N", help="warm-up runs, not counted (default 5)"
    )
    p.add_argument(
        "--opt-level",
        choices=("disable", "basic", "extended", "all"),
        default=None,
        help="ORT graph optimizations (default all, as edgeseg's ONNX Runtime runner uses; .onnx only)",
    )
    p.add_argument(
        "--size",
        type=parse_size,
        default=None,
        metavar="HxW",
        help="input size for a dynamic-size ONNX (default: the graph's, else the model card's)",
    )
    p.add_argument(
        "--top", type=positive_int, default=15, metavar="K", help="slowest nodes listed (default 15)"
    )
    p.add_argument("--json", default=None, metavar="FILE", help="also write the profile as JSON")


def run(args: argparse.Namespace) -> int:
    from edgeseg._io import atomic_write_text, check_output_path
    from edgeseg.bench.profile import format_profile, profile_onnx
    from edgeseg.errors import UnsupportedOptionError

    if args.json:
        check_output_path(args.json)  # before the work
    common = {
        "threads": args.threads,
        "runs": args.runs,
        "warmup": args.warmup,
        "size": args.size,
        "top": args.top,
    }
    if str(args.model).lower().endswith(".xml"):
        if args.opt_level is not None:
            raise UnsupportedOptionError(
                "--opt-level is an ONNX Runtime setting; an OpenVINO IR is profiled as the runner compiles it"
            )
        from edgeseg.bench.profile_openvino import profile_openvino

        prof = profile_openvino(args.model, **common)
    else:
        prof = profile_onnx(args.model, optimization=args.opt_level or "all", **common)
    print(format_profile(prof))
    if args.json:
        atomic_write_text(args.json, json.dumps(prof.to_dict(), indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0
