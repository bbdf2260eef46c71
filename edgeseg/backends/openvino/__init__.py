"""OpenVINO: IRs (``model.xml`` + ``model.bin``) on x86-64 / ARM64 CPUs, FP32 or INT8 from a Q/DQ ONNX.

``build.py`` converts an exported ONNX; ``runner.py`` runs the IR (weights checked against the card).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeseg.backends._options import CALIB, CALIB_NUM, INT8, MIXED_OPTIONS, NO_REWRITE, THREADS
from edgeseg.backends._spec import BackendSpec, Option, library_row, module_installed
from edgeseg.card import ModelCard

#: Where the card lives in the IR's rt_info (``<rt_info><edgeseg><card value="..."/>``).
RT_INFO_CARD = ["edgeseg", "card"]
INSTALL = "pip install 'edgeseg[openvino]' (x86-64 and ARM64 CPUs)"


#: Opt-in bf16 for the float parts (FP32 stays pinned by default).
BF16_FLOAT = Option(
    "--bf16-float",
    "bf16_float",
    "run the float parts (all but the int8 ops) in bf16 on a CPU with AVX512-BF16/AMX "
    "(default: f32 pinned); recorded in the card and labelled in reports",
    switch=True,
)


def weights_path(xml: str | Path) -> Path:
    """model.xml -> model.bin (where OpenVINO looks for the weights)."""
    return Path(xml).with_suffix(".bin")


def card_in_xml(xml: Path) -> ModelCard:
    """The edgeseg card in an IR's rt_info, read from the xml text alone (no OpenVINO, no weights)."""
    import xml.etree.ElementTree as ET

    from edgeseg.errors import EdgesegError

    try:
        node = ET.parse(xml).getroot().find("rt_info/" + "/".join(RT_INFO_CARD))
    except (ET.ParseError, OSError) as e:
        raise EdgesegError(f"{xml}: not a readable OpenVINO IR ({e})") from e
    if node is None:
        raise EdgesegError(f"{xml}: no edgeseg model card in its rt_info")
    return ModelCard.from_json(node.get("value", ""), where=str(xml))


def _default_output(onnx: Path) -> Path:
    """model.onnx -> model.xml (beside it; the weights go to model.bin)."""
    return onnx.with_suffix(".xml")


def _doctor_rows(versions: dict[str, str | None], machine: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        library_row(
            "openvino",
            versions,
            "openvino",
            works="FP32 and INT8 (from Q/DQ) IRs on the CPU",
            install=INSTALL,
            build_needs=("onnx",),
        )
    ]


SPEC = BackendSpec(
    "openvino",
    "OpenVINO",
    (".xml",),
    runner="OpenVinoRunner",
    builds=True,
    output="MODEL.xml (+ MODEL.bin)",
    artifact_noun="IR",
    packages=("openvino",),
    extra="openvino",
    install=INSTALL,
    calib_num=256,  # --int8 --max-drop: quantize_ptq's calibration (a Q/DQ ONNX needs none)
    options=(INT8, CALIB, CALIB_NUM, THREADS, NO_REWRITE, BF16_FLOAT, *MIXED_OPTIONS),
    note="x86/ARM CPUs; INT8 from a Q/DQ ONNX, run with int8 kernels, or from the checkpoint with --max-drop",
    examples=(
        "edgeseg build cgnet_qat.onnx --backend openvino --int8 --threads 2   # fastest CPU path on x86",
        "edgeseg build cgnet.pt --backend openvino --int8 --calib camvid:/data/camvid --max-drop 0.3 "
        "--val-data camvid:/data/camvid",
    ),
    available=lambda: module_installed("openvino"),
    read_card=card_in_xml,
    artifact_files=lambda p: [Path(p), weights_path(p)],
    default_output=_default_output,
    doctor_rows=_doctor_rows,
)
