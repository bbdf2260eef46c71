"""Build options shared by several backends, and the checks derived from every spec's options.

An option given to a backend that does not take it is rejected with a message naming the
backends that do (never silently ignored). Backend-only options live in that backend's spec.
"""

from __future__ import annotations

from typing import Any, Mapping

from edgeseg.backends._spec import BackendSpec, Option
from edgeseg._validate import float_in, non_empty, positive_int
from edgeseg.data.calib_request import CALIB_METHODS, DEFAULT_METHOD, methods_for
from edgeseg.errors import UnsupportedOptionError

#: The help section of the calibration request's flags (``edgeseg.data.calib_request.CalibRequest``).
CALIBRATION = "calibration (implicit INT8)"


FP16 = Option(
    "--fp16",
    "fp16",
    "FP16 (TensorRT: builder flag on 8.6/10.x, FP16 ONNX on 11.x; Core ML: FP16 compute, its default)",
    switch=True,
    group="precision",
)
INT8 = Option(
    "--int8",
    "int8",
    "INT8: from a Q/DQ ONNX as is, or calibrated (--calib); Core ML: INT8 weights",
    switch=True,
    group="precision",
)
CALIB = Option(
    "--calib",
    "calib",
    "calibration frames: a list file, a folder of images or a dataset spec (camvid:PATH, synthetic:N)",
    metavar="LIST|DIR|SPEC",
    group=CALIBRATION,
)
CALIB_NUM = Option(
    "--calib-num",
    "calib_num",
    "frames to use, evenly spaced (default: each backend's spec.calib_num)",
    kind=positive_int,
    metavar="N",
    group=CALIBRATION,
)
CALIB_BATCH = Option(
    "--calib-batch",
    "calib_batch",
    "frames per calibration batch",
    kind=positive_int,
    metavar="N",
    group=CALIBRATION,
)


def calib_method_option(*tools: str, param: str = "calib_method", aliases: tuple[str, ...] = ()) -> Option:
    """``--calib-method`` for ``tools`` (see ``CALIB_METHODS``): its choices and help from the one table;
    ``param``: the keyword it sets (TensorRT's build takes ``calib_algo``)."""
    names = methods_for(*tools)
    defaults = sorted({DEFAULT_METHOD[t] for t in tools})
    return Option(
        "--calib-method",
        param,
        "activation ranges: "
        + ", ".join(f"{m} ({CALIB_METHODS[m][0]})" for m in names)
        + f". Default: {'/'.join(defaults)}",
        choices=names,
        group=CALIBRATION,
        aliases=aliases,
    )


#: The help section of ``build --int8 --max-drop`` (``edgeseg.backends._mixed``).
MIXED = "mixed precision (--int8 --max-drop: the search of `quantize --max-drop`, inside the build)"
MAX_DROP = Option(
    "--max-drop",
    "max_drop",
    "leave the fewest, most sensitive layers in float so that INT8 loses at most this many points of "
    "mIoU@FP32 (against the FP32 model's own labels) on --sensitivity-frames frames of --val-data "
    "(default: off); needs --int8 --calib and the .pt checkpoint (or an FP32 ONNX with it beside)",
    kind=float_in(0, above=True),
    metavar="POINTS",
    group=MIXED,
)
CLASS_DROP = Option(
    "--class-drop",
    "class_drop",
    "with --max-drop: and no class more than this many points of IoU@FP32 (default 1.0)",
    kind=float_in(0, above=True),
    metavar="POINTS",
    group=MIXED,
)
SENSITIVITY_FRAMES = Option(
    "--sensitivity-frames",
    "sensitivity_frames",
    "with --max-drop: val frames the per-layer sensitivity and the search score on (default 16)",
    kind=positive_int,
    metavar="N",
    group=MIXED,
)
VAL_DATA = Option(
    "--val-data",
    "val_data",
    "with --max-drop: the dataset whose val split it scores on (camvid:PATH, folder:PATH, synthetic:N)",
    metavar="SPEC",
    group=MIXED,
)
LAYER_COST = Option(
    "--layer-cost",
    "layer_cost",
    "with --max-drop: what a layer left in float costs, recorded in the card and the report: flops "
    "(default: GFLOP per frame, an estimate), openvino (ms per frame measured here on OpenVINO CPU, "
    "per-node profiles of the INT8 and FP32 IRs) or a JSON written by benchmarks/layer_cost_openvino.py",
    kind=non_empty,
    metavar="flops|openvino|FILE.json",
    group=MIXED,
)
PREFER_CHEAP = Option(
    "--prefer-cheap",
    "prefer_cheap",
    "with --max-drop: rank layers by sensitivity per unit of --layer-cost (default: by sensitivity)",
    switch=True,
    group=MIXED,
)
DROP_REFERENCE = Option(
    "--drop-reference",
    "drop_reference",
    "with --max-drop: what the points are of: fp32 (default: mIoU@FP32, agreement with the FP32 model's "
    "own labels; strict, needs no labels) or labels (label mIoU against the ground truth of --val-data, "
    "FP32's minus INT8's: what edgeseg eval prints)",
    choices=("fp32", "labels"),
    group=MIXED,
)
BUDGET_FRAMES = Option(
    "--budget-frames",
    "budget_frames",
    "with --max-drop: val frames the budget is checked on (default: the --sensitivity-frames frames); more "
    "than those to rank on 16 and check on a whole val split (with --drop-reference labels)",
    kind=positive_int,
    metavar="N",
    group=MIXED,
)
#: The options of ``build --int8 --max-drop``, in help order.
MIXED_OPTIONS = (
    MAX_DROP,
    CLASS_DROP,
    SENSITIVITY_FRAMES,
    VAL_DATA,
    LAYER_COST,
    PREFER_CHEAP,
    DROP_REFERENCE,
    BUDGET_FRAMES,
)


THREADS = Option(
    "--threads",
    "threads",
    "CPU threads recorded for the runner (default: the library's own)",
    kind=positive_int,
    metavar="N",
)
NO_REWRITE = Option(
    "--no-rewrite",
    "rewrite",
    "keep the graph as exported (default: rewrite PReLU/BN/Concat into "
    "faster, equal ops; PReLU only in a Q/DQ graph for openvino)",
    switch=False,
)


def options_table(specs: Mapping[str, BackendSpec]) -> dict[str, tuple[Option, tuple[str, ...]]]:
    """param -> (the Option, the backends that accept it), in first-seen order (pass ``BACKENDS``).
    Two specs that declare the same param must share one Option."""
    table: dict[str, tuple[Option, tuple[str, ...]]] = {}
    for name, spec in specs.items():
        for opt in spec.options:
            known, names = table.get(opt.param, (opt, ()))
            if known != opt:
                raise ValueError(f"backend {name!r} declares {opt.flag} unlike {', '.join(names)}")
            table[opt.param] = (opt, (*names, name))
    return table


def given_options(values: Mapping[str, Any], specs: Mapping[str, BackendSpec]) -> dict[str, Any]:
    """The build options in ``values`` (argparse dests = params) that were given (not None)."""
    table = options_table(specs)
    return {k: v for k, v in values.items() if k in table and v is not None}


def check_options(
    backend: str, values: Mapping[str, Any], specs: Mapping[str, BackendSpec]
) -> dict[str, Any]:
    """The given options as build keywords; UnsupportedOptionError for every one ``backend`` does not take."""
    builders = [n for n, s in specs.items() if s.builder is not None]
    if backend not in builders:
        raise UnsupportedOptionError(f"unknown backend {backend!r}; expected one of {', '.join(builders)}")
    table = options_table(specs)
    given = given_options(values, specs)
    bad = [
        f"{table[p][0].flag} (accepted by {', '.join(table[p][1])})"
        for p in given
        if backend not in table[p][1]
    ]
    if bad:
        raise UnsupportedOptionError(f"--backend {backend} does not take " + "; ".join(bad))
    return given
