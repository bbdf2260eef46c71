"""PyTorch: ``.pt`` checkpoints run eagerly (CPU FP32, CUDA FP32/FP16; a QAT checkpoint simulates INT8).

Nothing to build: ``runner.py`` runs the checkpoint ``edgeseg train`` / ``quantize`` wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeseg.backends._spec import BackendSpec, missing, module_installed, row, usable
from edgeseg.card import ModelCard


def _read_card(path: Path) -> ModelCard:
    from edgeseg.train.checkpoint import read_checkpoint

    return ModelCard.from_dict(read_checkpoint(path)["card"], where=str(path))


def _doctor_rows(versions: dict[str, str | None], machine: dict[str, Any]) -> list[dict[str, Any]]:
    ok = usable(versions, "torch")
    rows = [
        row(
            "torch-cpu",
            None,
            ok,
            "runs .pt checkpoints" if ok else missing(versions, "torch"),
            versions.get("torch"),
        )
    ]
    if not ok:
        reason = missing(versions, "torch")
    elif machine.get("cuda_available"):
        gpu = machine["gpus"][0] if machine.get("gpus") else {}
        reason = f"CUDA {machine.get('torch_cuda_build')} on {gpu.get('name', 'a GPU')}"
    elif not machine.get("torch_cuda_build"):
        reason = f"this torch is a CPU-only build ({versions['torch']})"
    else:
        reason = "torch was built with CUDA but sees no CUDA device" + (
            f" ({machine['cuda_error']})" if machine.get("cuda_error") else ""
        )
    rows.append(
        row("torch-cuda", None, ok and bool(machine.get("cuda_available")), reason, versions.get("torch"))
    )
    return rows


SPEC = BackendSpec(
    "torch",
    "PyTorch",
    (".pt",),
    runner="TorchRunner",
    label="PyTorch eager",
    artifact_noun="checkpoint",
    packages=("torch",),
    install="pip install torch (an edgeseg dependency; on a Jetson use NVIDIA's wheel, see docs/jetson.md)",
    available=lambda: module_installed("torch"),
    read_card=_read_card,
    doctor_rows=_doctor_rows,
)
