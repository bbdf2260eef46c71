"""Default output names that carry the precision, and reading the precision an existing artifact records.

``edgeseg build m.onnx --backend onnxruntime`` writes ``m.fp32.ort.onnx`` and ``--int8`` writes
``m.int8.ort.onnx``, so the two builds of one model never overwrite each other. Whether an existing
output may be replaced is the output policy's call (``commands/_policy.py``), from the card on disk.
"""

from __future__ import annotations

import re
from pathlib import Path

from edgeseg.errors import EdgesegError

#: Backends whose builder already refuses another input type with its own one-line error.
OWN_INPUT_CHECK = ("openvino", "coreml")


def artifact_suffix(backend: str) -> str:
    """What the backend's spec appends to a source's stem (``.ort.onnx``, ``.engine``, ``.xml``,
    ``.mlpackage``)."""
    from edgeseg.backends import BACKENDS

    spec = BACKENDS[backend]
    return spec.default_output(Path("MODEL" + spec.sources[0])).name[len("MODEL") :]


def build_precision(*, backend: str, fp16: bool, int8: bool, source: str | None = None) -> str:
    """The precision a build writes: int8 with --int8 or from an INT8 (Q/DQ) source, whose card says
    so (``source``: that card's precision), else fp16 with --fp16 (Core ML: always), else fp32."""
    if int8 or source == "int8":
        return "int8"
    return "fp16" if fp16 or backend == "coreml" else "fp32"


def default_build_output(model: str | Path, *, backend: str, precision: str) -> Path:
    """``MODEL.<precision><suffix>`` beside the input; the precision is left out when the name already says it
    (``model_int8.onnx`` -> ``model_int8.ort.onnx``)."""
    p = Path(model)
    words = {w.lower() for w in re.split(r"[._-]", p.stem)}
    tag = "" if precision in words else f".{precision}"
    return p.with_name(f"{p.stem}{tag}{artifact_suffix(backend)}")


def check_build_input(model: str | Path, *, backend: str, checkpoint: bool = False) -> None:
    """A one-line error when ``model`` is not a file this backend builds from (checked before any work);
    ``checkpoint`` (``--max-drop``): a .pt checkpoint too, on every backend."""
    from edgeseg.backends import BACKENDS
    from edgeseg.backends._mixed import build_sources

    p = Path(model)
    want = build_sources(BACKENDS[backend].sources, mixed=checkpoint)
    if not checkpoint and backend in OWN_INPUT_CHECK:
        return
    if p.suffix.lower() not in want:
        raise EdgesegError(
            f"{p}: not an ONNX model"
            + (" or checkpoint" if ".pt" in want else "")
            + f" (the {backend} backend builds from {' or '.join(want)}, found {p.suffix or 'no suffix'!r})"
        )
    if not p.exists():
        raise EdgesegError(f"{p}: file not found")


def artifact_precision(path: str | Path) -> str | None:
    """The precision recorded in an existing artifact's card (ONNX metadata, OpenVINO rt_info, an
    ExecuTorch program's card method or the ``.card.json`` sidecar), None when it cannot be read."""
    from edgeseg.card import card_from_onnx, read_sidecar, sidecar_path

    p = Path(path)
    try:
        if sidecar_path(p).is_file():
            return read_sidecar(p).precision
        if p.suffix.lower() == ".onnx":
            return card_from_onnx(p).precision
        if p.suffix.lower() == ".xml":
            import xml.etree.ElementTree as ET

            from edgeseg.card import ModelCard

            node = ET.parse(p).getroot().find("rt_info/edgeseg/card")
            return (
                None if node is None else ModelCard.from_json(node.get("value", ""), where=str(p)).precision
            )
        if p.suffix.lower() == ".pte":
            from edgeseg.backends.executorch._native import read_program_card

            return read_program_card(p).precision
    except Exception:  # noqa: BLE001 - an unreadable file is not ours to judge
        return None
    return None
