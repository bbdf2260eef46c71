"""Name a benchmark row by its deployment path, in words, and say when it is not one on this machine.

A row's file name says little ("cgnet_camvid.qat.xml"); its path does: "OpenVINO INT8 from the QAT
model". Some rows measure something that is not deployed as measured: the TensorRT Q/DQ graph run by
ONNX Runtime (INT8 simulated around float kernels) and FP16 on a CPU (no fast FP16 path); those get
``deployable`` False and one sentence on what they measure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


def backend_words(backend: str) -> str:
    """A backend in a report's words, from its spec (``report_label``: "PyTorch eager", "ExecuTorch")."""
    from edgeseg.backends import BACKENDS

    spec = BACKENDS.get(backend)
    return spec.report_label if spec else (backend or "unknown backend")


def backend_short(backend: str) -> str:
    """A backend in a chart label, from its spec (``chart_label``: "PyTorch", "ORT")."""
    from edgeseg.backends import BACKENDS

    spec = BACKENDS.get(backend)
    return spec.chart_label if spec else (backend or "?")


QDQ_BY_ORT = (
    "ONNX Runtime runs the Q/DQ graph made for TensorRT by quantizing and dequantizing around float kernels: "
    "the row shows the accuracy TensorRT INT8 keeps, not a speed to deploy (build it with TensorRT on a GPU, "
    "or as an OpenVINO IR on a CPU)."
)
FP16_ON_CPU = (
    "This CPU has no fast FP16 path, so ONNX Runtime computes around float kernels: the row shows the "
    "accuracy "
    "FP16 keeps (as TensorRT FP16 on a GPU would), not FP16 speed."
)


@dataclass(frozen=True)
class PathInfo:
    """``name``: the path in words; ``short``: a chart label; ``deployable``: a path to deploy on the
    machine that ran the row; ``note``: one sentence on what a non-deployable row measures."""

    name: str
    short: str
    deployable: bool = True
    note: str = ""


def _options(row: dict[str, Any]) -> dict[str, Any]:
    return {**(row.get("options") or {}), **(row.get("runner_options") or {})}


def on_gpu(row: dict[str, Any]) -> bool:
    """True when the row ran on a GPU (CUDA device, a CUDA/TensorRT execution provider, a TensorRT engine)."""
    if row.get("backend") == "tensorrt" or str(row.get("device") or "").startswith("cuda"):
        return True
    providers = [str(p).lower() for p in _options(row).get("providers") or []]
    return any("cuda" in p or "tensorrt" in p for p in providers)


#: How a path name and a chart label say an artifact's head (``card.extra["head"]``); logits: nothing.
HEAD_WORDS = {"labels": (", labels out", " lab"), "labels-lowres": (", low-res labels out", " lab-lr")}


def describe(row: dict[str, Any]) -> PathInfo:
    """The deployment path of a results row (``edgeseg.bench`` schema), with its head when it ends in
    labels ("OpenVINO INT8 from the QAT model, labels out")."""
    info = _describe(row)
    extra = (row.get("card") or {}).get("extra") or {}
    for words in (
        HEAD_WORDS.get(extra.get("head")),
        (", bf16 float parts", " bf16") if extra.get("inference_precision") == "bf16" else None,
    ):
        if words is not None:
            info = replace(info, name=info.name + words[0], short=info.short + words[1])
    return info


def _describe(row: dict[str, Any]) -> PathInfo:
    backend = row.get("backend") or ""
    prec = str(row.get("precision") or "?")
    P = prec.upper()
    words = backend_words(backend)
    short = backend_short(backend)
    quant = str(row.get("quantization") or "")
    method = "QAT" if quant.startswith("qat") else "PTQ"
    flavour = quant.split()[1] if len(quant.split()) > 1 else ""
    gpu = on_gpu(row)
    where = " on the GPU" if gpu and backend in ("torch", "onnxruntime") else ""
    extra = (row.get("card") or {}).get("extra") or {}
    if not backend:
        return PathInfo(
            f"{row.get('id')} (never opened)",
            str(row.get("id")),
            False,
            "The row failed before its runner opened.",
        )
    if backend == "torch":
        cl = ", channels-last" if _options(row).get("channels_last") else ""
        return PathInfo(f"{words} {P}{cl}{where}", f"{short} {P}{' CL' if cl else ''}")
    if backend == "onnxruntime":
        if prec == "int8" and flavour == "tensorrt-qdq" and not gpu:
            return PathInfo(
                f"TensorRT INT8 ({method}) Q/DQ graph run by ONNX Runtime",
                f"TRT Q/DQ {method} via ORT",
                False,
                QDQ_BY_ORT,
            )
        if prec == "int8" and flavour == "cpu-qdq":  # edgeseg.quant.placement_cpu.CPU_FLAVOUR
            return PathInfo(
                f"{words} INT8{where} ({method}, CPU Q/DQ placement)", f"{short} INT8 {method} cpu"
            )
        if prec == "int8":
            return PathInfo(f"{words} INT8{where} (its own static quantization)", f"{short} INT8")
        if prec == "fp16" and not gpu:
            return PathInfo(
                "FP16 graph run by ONNX Runtime on the CPU", "FP16 via ORT (CPU)", False, FP16_ON_CPU
            )
        if extra.get("backend") == "onnxruntime":
            return PathInfo(f"{words} {P}{where}, optimized graph (edgeseg build)", f"{short} {P} optimized")
        return PathInfo(f"{words} {P}{where} (the exported ONNX as is)", f"{short} {P} export")
    if backend == "executorch" and prec == "int8":  # quantized by its own PT2E pass, from a checkpoint
        weights_from = str((extra.get("quantization") or {}).get("weights_from") or "")
        if method == "QAT" or weights_from.startswith("QAT"):
            return PathInfo(
                f"{words} INT8 from the QAT checkpoint (PT2E, ranges recalibrated)", f"{short} INT8 QAT"
            )
        return PathInfo(
            f"{words} INT8 (its own PT2E quantization of the FP32 checkpoint)", f"{short} INT8 PT2E"
        )
    if prec == "int8" and quant:
        cpu = flavour == "cpu-qdq"  # quantize --target cpu
        return PathInfo(
            f"{words} INT8 from the {method} model{', CPU placement' if cpu else ''}",
            f"{short} INT8 {method}{' cpu' if cpu else ''}",
        )
    return PathInfo(f"{words} {P}", f"{short} {P}")
