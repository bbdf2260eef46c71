"""Where an artifact's time goes, by kind of work: the profile a benchmark row keeps so the report can
say what keeps it from its roofline.

``time_split`` profiles an OpenVINO IR (``PERF_COUNT`` per executed node, ``profile_openvino``) or an
ONNX model (ONNX Runtime's profiler, ``profile_onnx``) and sums the kernel time per kind of work
(``KINDS``); what the kernels do not account for is ``between_kernels_ms`` (scheduling and
synchronisation between the ``kernel_calls`` per run, plus the profiler's own cost). Other artifacts
(PyTorch, ExecuTorch, TensorRT) have no profiler edgeseg reads: ``time_split`` returns None for them.
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
    "between_kernels_ms"}``. None for an artifact edgeseg cannot profile (not .xml / .onnx)."""
    suffix = Path(artifact).suffix.lower()
    if suffix == ".xml":
        from edgeseg.bench.profile_openvino import profile_openvino

        prof = profile_openvino(artifact, threads=threads, runs=runs, warmup=warmup, top=0)
        tool, kind_of = "OpenVINO PERF_COUNT", kind_openvino
    elif suffix == ".onnx":
        from edgeseg.bench.profile import profile_onnx

        prof = profile_onnx(artifact, threads=threads, runs=runs, warmup=warmup, top=0)
        tool, kind_of = "ONNX Runtime profiler", kind_onnxruntime
    else:
        return None
    kernels, calls = _split([(o.op_type, o.ms, o.calls) for o in prof.by_op], kind_of)
    return {
        "tool": tool,
        "runs": prof.runs,
        "threads": prof.threads,
        "run_ms": round(prof.run_ms, 4),
        "kernels_ms": kernels,
        "calls": calls,
        "kernel_calls": round(prof.nodes_per_run, 1),
        "between_kernels_ms": round(max(prof.overhead_ms, 0.0), 4),
    }
