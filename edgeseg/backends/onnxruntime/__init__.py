"""ONNX Runtime: ``.onnx`` files on the CPU (FP32, FP16, INT8), or CUDA / TensorRT providers when asked.

``build.py`` writes an offline-optimized ``model.ort.onnx``; ``runner.py`` runs any edgeseg ``.onnx``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeseg.backends._options import CALIB, CALIB_NUM, FP16, INT8, MIXED_OPTIONS, NO_REWRITE, THREADS
from edgeseg.backends._spec import BackendSpec, Option, missing, module_installed, row, usable
from edgeseg.card import ModelCard

#: ``--opt-level`` / the runner's ``optimization`` -> onnxruntime.GraphOptimizationLevel member name.
OPT_LEVELS: dict[str, str] = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


def disabled_optimizers(card: ModelCard) -> list[str]:
    """The transformers a session on ``card``'s model disables: ``KEEP_FLOAT`` when the card records
    mixed precision (``extra["quantization"]["mixed"]``, from ``--max-drop``), else none."""
    quant = card.extra.get("quantization")
    if not (isinstance(quant, dict) and quant.get("mixed")):
        return []
    # imported here: importing edgeseg.quant imports torch, which a runner of an ONNX model never needs
    from edgeseg.quant.ort_cpu import KEEP_FLOAT

    return list(KEEP_FLOAT)


def _available() -> bool:
    return module_installed("onnxruntime") and module_installed("onnx")


def _read_card(path: Path) -> ModelCard:
    from edgeseg.card import card_from_onnx

    return card_from_onnx(Path(path))


def _default_output(onnx: Path) -> Path:
    """model.onnx -> model.ort.onnx (beside it)."""
    return onnx.with_name(f"{onnx.stem}.ort.onnx")


def _doctor_rows(versions: dict[str, str | None], machine: dict[str, Any]) -> list[dict[str, Any]]:
    from edgeseg._env import ort_providers

    ok = usable(versions, "onnxruntime")
    providers = ort_providers() if ok else []
    can = ok and usable(versions, "onnx")
    rows = [
        row(
            "onnxruntime-cpu",
            can,
            "CPUExecutionProvider" in providers,
            "FP32 and INT8 (QDQ) .onnx on the CPU"
            if can
            else missing(versions, "onnxruntime" if not ok else "onnx"),
            versions.get("onnxruntime"),
            providers=providers,
        )
    ]
    for name, prov, pkg in (
        ("onnxruntime-cuda", "CUDAExecutionProvider", "onnxruntime-gpu"),
        ("onnxruntime-tensorrt", "TensorrtExecutionProvider", "onnxruntime-gpu with TensorRT libraries"),
    ):
        have = prov in providers
        reason = (
            f"{prov} is listed (its CUDA libraries load on first use)"
            if have
            else (
                missing(versions, "onnxruntime")
                if not ok
                else f"no {prov} in this onnxruntime (needs {pkg} and an NVIDIA GPU)"
            )
        )
        rows.append(row(name, None, have, reason, versions.get("onnxruntime")))
    return rows


SPEC = BackendSpec(
    "onnxruntime",
    "ONNX Runtime",
    (".onnx",),
    runner="OrtRunner",
    builds=True,
    short="ORT",
    calib_num=256,
    output="MODEL.ort.onnx",
    artifact_noun="model",
    packages=("onnxruntime", "onnx"),
    install="pip install onnxruntime onnx (both are edgeseg dependencies)",
    options=(
        FP16,
        INT8,
        CALIB,
        CALIB_NUM,
        THREADS,
        Option(
            "--opt-level",
            "opt_level",
            "graph optimizations (default extended; 'all' writes hardware-specific layouts)",
            choices=("basic", "extended", "all"),
        ),
        Option(
            "--per-tensor", "per_channel", "per-tensor instead of per-channel weight scales", switch=False
        ),
        NO_REWRITE,
        *MIXED_OPTIONS,
    ),
    examples=(
        "edgeseg build cgnet.onnx --backend onnxruntime --int8 --calib calib/camvid_train.txt",
        "edgeseg build cgnet.pt --backend onnxruntime --int8 --calib calib/camvid_train.txt --max-drop 0.3 "
        "--val-data camvid:/data/camvid",
    ),
    available=_available,
    read_card=_read_card,
    default_output=_default_output,
    doctor_rows=_doctor_rows,
)
