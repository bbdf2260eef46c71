"""ExecuTorch: ``.pte`` programs for Android and iOS, lowered to the XNNPACK delegate (FP32 or INT8).

``build.py`` captures the PyTorch checkpoint with ``torch.export`` (INT8 through PT2E with the
XNNPACK quantizer, calibrated on real frames) and lowers it with the XNNPACK partitioner; the model
card travels inside the program as the constant method ``edgeseg_card`` (a uint8 tensor of its
JSON). ``runner.py`` executes programs with ExecuTorch's Python runtime, which runs the same
XNNPACK kernels the Android (Java/Kotlin) and iOS (Swift/Obj-C) runtimes use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeseg.backends._options import CALIB, CALIB_NUM, INT8, MIXED_OPTIONS, THREADS
from edgeseg.backends._spec import BackendSpec, module_installed, row
from edgeseg.backends.executorch._native import CARD_METHOD  # noqa: F401 - the card's method name
from edgeseg.card import ModelCard

INSTALL = "pip install 'edgeseg[executorch]'"


def version() -> str | None:
    """The installed executorch version (package metadata: importing executorch is slow), or None."""
    from importlib import metadata

    try:
        return metadata.version("executorch")
    except metadata.PackageNotFoundError:
        return None


def _read_card(path: Path) -> ModelCard:
    from edgeseg.backends.executorch._native import read_program_card

    return read_program_card(Path(path))


def _default_output(model: Path) -> Path:
    """model.pt -> model.pte (beside it)."""
    return model.with_suffix(".pte")


def _doctor_rows(versions: dict[str, str | None], machine: dict[str, Any]) -> list[dict[str, Any]]:
    v = version()
    if v is None:
        return [row("executorch", False, False, f"executorch is not installed: {INSTALL}")]
    return [
        row(
            "executorch",
            module_installed("torch"),
            True,
            "builds and runs .pte programs with the XNNPACK kernels phones use (FP32, INT8)",
            v,
        )
    ]


SPEC = BackendSpec(
    "executorch",
    "ExecuTorch",
    (".pte",),
    runner="ExecuTorchRunner",
    builds=True,
    sources=(".pt", ".onnx"),
    output="MODEL.pte",
    artifact_noun="program",
    packages=("executorch",),
    metadata_only=("executorch",),  # importing executorch is slow
    calib_num=100,  # fewer than 256: XNNPACK's histogram observers run in eager PyTorch
    extra="executorch",
    install=INSTALL,
    options=(INT8, CALIB, CALIB_NUM, THREADS, *MIXED_OPTIONS),
    note="takes the .pt checkpoint (a QAT checkpoint builds INT8), or an .onnx with it beside",
    examples=(
        "edgeseg build cgnet.pt --backend executorch --int8 --calib camvid:/data/camvid --calib-num 100",
        "edgeseg build cgnet.pt --backend executorch --int8 --calib camvid:/data/camvid --max-drop 0.3 "
        "--val-data camvid:/data/camvid",
    ),
    available=lambda: module_installed("executorch") and module_installed("torch"),
    read_card=_read_card,
    default_output=_default_output,
    doctor_rows=_doctor_rows,
)
