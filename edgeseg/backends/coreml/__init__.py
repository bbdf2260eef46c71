"""Core ML: ``.mlpackage`` ML Programs for Apple devices (FP16 or FP32 compute, optional INT8 weights).

``build.py`` converts the PyTorch checkpoint (coremltools has no ONNX converter) and validates the
package on any OS; ``runner.py`` predicts on macOS only.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import sys
import warnings
from pathlib import Path
from typing import Any, Iterator

from edgeseg.backends._options import FP16, INT8
from edgeseg.backends._spec import BackendSpec, Option, library_row, module_installed
from edgeseg.card import ONNX_METADATA_KEY, ModelCard

METADATA_KEY = ONNX_METADATA_KEY  # "edgeseg.card": the card JSON
CLASSES_KEY = "edgeseg.classes"  # class names, comma separated, for Xcode's model viewer
DEFAULT_TARGET = "iOS16"  # = macOS 13: needed for float32 IO with FP16 compute and INT8 weight ops
INPUT_NAME, OUTPUT_NAME = "input", "logits"

INSTALL = "pip install 'edgeseg[coreml]'"


def run_problem() -> str | None:
    """Why Core ML packages cannot predict here (prediction needs macOS), or None."""
    if sys.platform != "darwin":
        return f"Core ML prediction needs macOS; this is {platform.system() or sys.platform}"
    return None


def _read_card(path: Path) -> ModelCard:
    from edgeseg.card import read_sidecar

    return read_sidecar(path)


def _default_output(model: Path) -> Path:
    """model.pt -> model.mlpackage (an .onnx is named after the checkpoint it came from, by the build)."""
    return model.with_suffix(".mlpackage")


def _doctor_rows(versions: dict[str, str | None], machine: dict[str, Any]) -> list[dict[str, Any]]:
    darwin = platform.system() == "Darwin"
    works = (
        "convert and predict (macOS)" if darwin else "conversion works here; Core ML prediction needs macOS"
    )
    return [
        library_row(
            "coreml",
            versions,
            "coremltools",
            works=works,
            install=INSTALL,
            build_needs=("torch",),
            runs_here=darwin,
        )
    ]


SPEC = BackendSpec(
    "coreml",
    "Core ML",
    (".mlpackage",),
    runner="CoreMLRunner",
    builds=True,
    sources=(".pt", ".onnx"),
    output="MODEL.mlpackage",
    artifact_noun="package",
    packages=("coremltools",),
    metadata_only=("coremltools",),  # importing coremltools imports torch and more (seconds)
    extra="coreml",
    install=INSTALL,
    options=(
        FP16,
        INT8,
        Option(
            "--min-target",
            "min_target",
            "minimum deployment target (default iOS16 = macOS13)",
            metavar="TARGET",
        ),
    ),
    note="takes the .pt checkpoint, or an .onnx with it beside",
    examples=("edgeseg build cgnet.pt --backend coreml --int8",),
    available=lambda: module_installed("coremltools"),
    run_problem=run_problem,
    read_card=_read_card,
    sidecar=True,
    default_output=_default_output,
    doctor_rows=_doctor_rows,
)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """coremltools logs untested-torch and missing-native-lib notices on import/convert; keep errors."""
    lg = logging.getLogger("coremltools")
    old = lg.level
    lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        lg.setLevel(old)


def import_coremltools() -> Any:
    """The ``coremltools`` module, imported without its notices; MissingDependencyError from the spec."""
    with _quiet():
        return SPEC.require()
