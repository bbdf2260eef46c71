"""Where an artifact's time goes, by kind of work: the profile a benchmark row keeps so the report can
say what keeps it from its roofline.

``time_split`` profiles an OpenVINO IR (``PERF_COUNT`` per executed node, ``profile_openvino``), an
ONNX model (ONNX Runtime's profiler, ``profile_onnx``) or an ExecuTorch program (XNNPACK's operator
events in an ETDump, ``profile_executorch``) and sums the kernel time per kind of work
(``KINDS``); what the kernels do not account for is ``between_kernels_ms`` (scheduling and
synchronisation between the ``kernel_calls`` per run, plus the profiler's own cost). Other artifacts
(PyTorch, TensorRT) have no profiler edgeseg reads: ``time_split`` returns None for them.
Profiling adds a little to each kernel call, so read the shares, and ``run_ms`` beside the row's p50.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

#: The kinds of work, in the order reports list them.
KINDS = (
    "dense convolution",
    "channel-wise convolution",
    "convolution",  # ONNX Runtime: its op types do not say whether a Conv is grouped
    "matmul",
    "element-wise and quantize",
    "resample",
    "layout reorder",
    "concat, pool and reduce",
    "other",
)

_OV = {
    "Convolution": "dense convolution",
    "GroupConvolution": "channel-wise convolution",
    "FullyConnected": "matmul",
    "MatMul": "matmul",
    "Subgraph": "element-wise and quantize",
    "Eltwise": "element-wise and quantize",
    "FakeQuantize": "element-wise and quantize",
    **{
        t: "element-wise and quantize"
        for t in ("Add", "Multiply", "Subtract", "Divide", "PRelu", "Relu", "Sigmoid", "Clamp", "Convert")
    },
    "TopK": "concat, pool and reduce",  # a labels head's arg-max over the classes
    "Interpolate": "resample",
    "Reorder": "layout reorder",
    "Transpose": "layout reorder",
    "Concat": "concat, pool and reduce",
    "AvgPool": "concat, pool and reduce",
    "MaxPool": "concat, pool and reduce",
    "Pooling": "concat, pool and reduce",
    "Reduce": "concat, pool and reduce",
    "ReduceMean": "concat, pool and reduce",
}
_ORT_CONV = {"Conv", "FusedConv", "QLinearConv", "ConvInteger", "NhwcFusedConv", "NchwcConv"}
_ORT = {
    "MatMul": "matmul",
    "Gemm": "matmul",
    "FusedMatMul": "matmul",
    "QLinearMatMul": "matmul",
    "MatMulInteger": "matmul",
    "Resize": "resample",
    "Upsample": "resample",
    "ReorderInput": "layout reorder",
    "ReorderOutput": "layout reorder",
    "Transpose": "layout reorder",
    "Concat": "concat, pool and reduce",
    "QLinearConcat": "concat, pool and reduce",
    "AveragePool": "concat, pool and reduce",
    "QLinearAveragePool": "concat, pool and reduce",
    "MaxPool": "concat, pool and reduce",
    "GlobalAveragePool": "concat, pool and reduce",
    "QLinearGlobalAveragePool": "concat, pool and reduce",
    "ReduceMean": "concat, pool and reduce",
}
_ORT_ELEMENTWISE = {
    "Add", "Mul", "Sub", "Div", "Relu", "Clip", "Sigmoid", "PRelu", "BatchNormalization",
    "QuantizeLinear", "DequantizeLinear", "QLinearAdd", "QLinearMul", "QLinearSigmoid",
    "QLinearLeakyRelu", "LeakyRelu", "HardSigmoid", "Cast", "ArgMax",
}  # fmt: skip


#: XNNPACK operator names (ETDump, instance suffix dropped) by their first words. XNNPACK runs a 1x1
#: convolution as "Fully Connected": counted with the dense convolutions (a Linear layer's GEMM too).
_XNNPACK = (
    ("Convolution", "dense convolution"),  # IGEMM; DWConv is matched first below
    ("Fully Connected", "dense convolution"),
    ("Deconvolution", "dense convolution"),
    ("Resize", "resample"),
    ("Transpose", "layout reorder"),
    ("Constant Pad", "layout reorder"),
    ("Copy", "concat, pool and reduce"),  # XNNPACK's concatenation: one copy per input
    ("Concatenate", "concat, pool and reduce"),
    ("Average Pooling", "concat, pool and reduce"),
    ("Max Pooling", "concat, pool and reduce"),
    ("Global Average Pooling", "concat, pool and reduce"),
    ("Mean", "concat, pool and reduce"),
    ("Sum", "concat, pool and reduce"),
    ("Argmax", "concat, pool and reduce"),
)


def kind_xnnpack(name: str) -> str:
    """The kind of work of an ExecuTorch/XNNPACK operator event ("Convolution (NHWC, QC8) DWConv",
    "PReLU (ND)", ...); every other XNNPACK operator is element-wise (PReLU, Add, Multiply, Convert,
    unary ops), and portable kernels ("native_call_...") are "other"."""
    if "DWConv" in name:
        return "channel-wise convolution"
    for prefix, kind in _XNNPACK:
        if name.startswith(prefix):
            return kind
    if name.startswith("native_call_") or "::" in name:
        return "other"
    return "element-wise and quantize"


def kind_openvino(layer_type: str) -> str:
    """The kind of work of an OpenVINO runtime layer type (``Convolution``, ``Subgraph``...)."""
    return _OV.get(layer_type, "other")


def kind_onnxruntime(op_type: str) -> str:
    """The kind of work of an ONNX Runtime op type (``Conv``, ``QLinearConv``, ``ReorderInput``...)."""
    if op_type in _ORT_CONV:
        return "convolution"
    if op_type in _ORT_ELEMENTWISE:
        return "element-wise and quantize"
    return _ORT.get(op_type, "other")


def _split(by_op: list[tuple[str, float, float]], kind_of: Any) -> tuple[dict[str, float], dict[str, float]]:
    ms: dict[str, float] = defaultdict(float)
    calls: dict[str, float] = defaultdict(float)
    for op, t, n in by_op:
        ms[kind_of(op)] += t
        calls[kind_of(op)] += n
    order = [k for k in KINDS if k in ms]
    return {k: round(ms[k], 4) for k in order}, {k: round(calls[k], 1) for k in order}


def time_split(
    artifact: str | os.PathLike, *, runs: int = 20, warmup: int = 5, threads: int | None = None
) -> dict[str, Any] | None:
    """The row's time by kind of work (``KINDS``) from ``runs`` profiled runs (default 20) after
    ``warmup`` (default 5), at ``threads`` (default: the artifact's/runtime's own): ``{"tool", "runs",
    "run_ms", "kernels_ms": {kind: ms per run}, "calls": {kind: calls per run}, "kernel_calls",
    "between_kernels_ms"}``. None for an artifact edgeseg cannot profile (not .xml / .onnx / .pte)."""
    suffix = Path(artifact).suffix.lower()
    if suffix == ".xml":
        from edgeseg.bench.profile_openvino import profile_openvino

        prof = profile_openvino(artifact, threads=threads, runs=runs, warmup=warmup, top=0)
        tool, kind_of = "OpenVINO PERF_COUNT", kind_openvino
    elif suffix == ".onnx":
        from edgeseg.bench.profile import profile_onnx

        prof = profile_onnx(artifact, threads=threads, runs=runs, warmup=warmup, top=0)
        tool, kind_of = "ONNX Runtime profiler", kind_onnxruntime
    elif suffix == ".pte":
        from edgeseg.bench.profile_executorch import op_times

        by_op, run_ms, used = op_times(artifact, runs=runs, warmup=warmup, threads=threads)
        return _record("ExecuTorch ETDump (XNNPACK operators)", runs, used, run_ms, by_op, kind_xnnpack)
    else:
        return None
    by_op = [(o.op_type, o.ms, o.calls) for o in prof.by_op]
    return _record(tool, prof.runs, prof.threads, prof.run_ms, by_op, kind_of)


def _record(
    tool: str,
    runs: int,
    threads: int | None,
    run_ms: float,
    by_op: list[tuple[str, float, float]],
    kind_of: Any,
) -> dict[str, Any]:
    kernels, calls = _split(by_op, kind_of)
    return {
        "tool": tool,
        "runs": runs,
        "threads": threads,
        "run_ms": round(run_ms, 4),
        "kernels_ms": kernels,
        "calls": calls,
        "kernel_calls": round(sum(n for _, _, n in by_op), 1),
        "between_kernels_ms": round(max(run_ms - sum(t for _, t, _ in by_op), 0.0), 4),
    }
