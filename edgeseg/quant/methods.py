"""What ``edgeseg quantize`` offers and its defaults: methods, calibration methods (from the one table
in ``edgeseg.data.calib_request``), bias corrections, the request's defaults, the output paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from edgeseg.data.calib_request import DEFAULT_METHOD, CalibRequest, methods_for

METHODS = ("ptq", "qat", "ort-cpu")
CALIB_METHODS = methods_for("ptq", "qat")
BIAS_CORRECTIONS = ("none", "fast", "sequential")
#: Defaults per method (docs/quantization.md has the measurements): activation calibration, bias correction.
DEFAULT_CALIB = {m: DEFAULT_METHOD[m] for m in ("ptq", "qat")}
DEFAULT_BIAS_CORRECTION = {"ptq": "sequential", "qat": "none"}
#: A request's defaults here: frames and frames per batch.
DEFAULT_CALIB_NUM = 256
DEFAULT_CALIB_BATCH = 8
DEFAULT_PERCENTILE = 99.99

Log = Callable[[str], None]


def default_output(ckpt, method: str) -> Path:
    """<name>_int8.onnx beside the checkpoint (<name>_int8_cpu.onnx for ort-cpu)."""
    p = Path(ckpt)
    return p.with_name(p.stem + ("_int8_cpu.onnx" if method == "ort-cpu" else "_int8.onnx"))


def output_path(checkpoint, output, method: str) -> Path:
    """The output (``output`` or the default), checked before any work: writable, a .onnx."""
    from edgeseg._io import check_output_path
    from edgeseg.errors import QuantizationError

    out = check_output_path(output or default_output(checkpoint, method))
    if out.suffix.lower() != ".onnx":
        raise QuantizationError(f"output {out} should end in .onnx")
    return out


def with_defaults(request: CalibRequest, tool: str) -> CalibRequest:
    """``request`` with ``tool``'s method checked and the defaults filled (256 frames, batches of 8)."""
    return request.for_tool(tool, num=DEFAULT_CALIB_NUM, batch=DEFAULT_CALIB_BATCH)


#: The flat keywords ``quantize`` maps onto each entry point's records (keyword -> record field).
CALIB_KEYS = {
    "calib": "source",
    "calib_num": "num",
    "num_calib": "num",
    "calib_method": "method",
    "calib_batch": "batch",
    "seed": "seed",
}
VAL_KEYS = {"val_data": "data", "val_split": "split", "val_max_frames": "max_frames", "max_drop": "max_drop"}
QAT_KEYS = {
    "epochs": "epochs",
    "lr": "lr",
    "batch": "batch",
    "crop": "crop",
    "class_weights": "class_weights",
    "max_steps": "max_steps",
}


def pop_given(options: dict[str, Any], keys: dict[str, str]) -> dict[str, Any]:
    """Pop ``keys`` from ``options``; {record field: value} of those given (not None)."""
    found = {}
    for key, field in keys.items():
        value = options.pop(key, None)
        if value is not None:
            found[field] = tuple(value) if field == "crop" else value
    return found
