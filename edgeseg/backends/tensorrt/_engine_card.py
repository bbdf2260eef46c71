"""The sidecar card of a TensorRT engine, and the checks made BEFORE an engine is deserialized.

An engine only runs on the TensorRT version and GPU (compute capability) it was built with;
``deserialize_cuda_engine`` returns None (or aborts) otherwise. So the sidecar
``model.engine.card.json`` records the facts (card.extra, flat keys) and ``check_engine`` compares
them with the running TensorRT and GPU, and the engine file with its recorded size and sha256,
then refuses with the command to rebuild.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgeseg._io import sha256_file
from edgeseg.card import ModelCard, read_sidecar, sidecar_path
from edgeseg.errors import BuildError, EdgesegError

#: card.extra keys written for every engine.
ENGINE_KEYS = (
    "backend",
    "tensorrt_version",
    "gpu_name",
    "compute_capability",
    "build_path",
    "path_id",
    "builder_flags",
    "strongly_typed",
    "dla_core",
    "gpu_fallback",
    "profile",
    "calibration",
    "onnx_sha256",
    "engine_sha256",
    "engine_size",
    "build_seconds",
    "build_command",
    "tf32",
)


def rebuild_hint(card: ModelCard | None, engine: str | os.PathLike) -> str:
    cmd = (
        card.extra.get("build_command") if card is not None else None
    ) or f"edgeseg build MODEL.onnx -o {engine}"
    return f"rebuild it here with: {cmd}"


def check_engine_files(engine: str | os.PathLike) -> None:
    """Raise BuildError when the engine file or its sidecar card is missing (needs no TensorRT)."""
    p = Path(engine)
    if not p.is_file():
        raise BuildError(f"{p}: engine file not found")
    if not sidecar_path(p).is_file():
        raise BuildError(
            f"{p}: no model card beside it ({sidecar_path(p).name}); edgeseg only loads engines it built, "
            f"whose TensorRT version and GPU are known. {rebuild_hint(None, p)}"
        )


def check_engine(
    engine: str | os.PathLike, *, tensorrt_version: str, compute_capability: str, verify_hash: bool = True
) -> ModelCard:
    """Return the engine's card, or raise BuildError when it cannot run here (checked before loading)."""
    p = Path(engine)
    check_engine_files(p)
    try:
        card = read_sidecar(p)
    except EdgesegError as e:
        raise BuildError(f"{p}: unreadable engine card: {e}") from e
    extra = card.extra
    if extra.get("backend") != "tensorrt":
        raise BuildError(f"{p}: its card says backend {extra.get('backend')!r}, not a TensorRT engine")
    built_v, built_cc = extra.get("tensorrt_version"), extra.get("compute_capability")
    if built_v != tensorrt_version:
        raise BuildError(
            f"{p} was built with TensorRT {built_v}, this is TensorRT {tensorrt_version}: engines only load "
            f"in the exact TensorRT version that built them; {rebuild_hint(card, p)}"
        )
    if str(built_cc) != str(compute_capability):
        raise BuildError(
            f"{p} was built for a GPU of compute capability {built_cc} ({extra.get('gpu_name')}), this "
            "GPU has "
            f"{compute_capability}: engines only run on the GPU kind they were built on; "
            f"{rebuild_hint(card, p)}"
        )
    size = p.stat().st_size
    if extra.get("engine_size") is not None and int(extra["engine_size"]) != size:
        raise BuildError(
            f"{p} is {size} bytes but its card records {extra['engine_size']}: truncated or replaced; "
            f"{rebuild_hint(card, p)}"
        )
    if verify_hash and extra.get("engine_sha256") and sha256_file(p) != extra["engine_sha256"]:
        raise BuildError(
            f"{p} does not match the sha256 in its card (modified or replaced); {rebuild_hint(card, p)}"
        )
    return card


def engine_extra(
    *,
    tensorrt_version: str,
    gpu_name: str,
    compute_capability: str,
    plan: Any,
    flags: list[str],
    dla_core: int | None,
    gpu_fallback: bool,
    profile: dict[str, Any],
    calibration: dict[str, Any] | None,
    onnx_sha256: str,
    engine_sha256: str,
    engine_size: int,
    build_seconds: float,
    build_command: str,
    workspace_mib: int | None,
    tf32: bool = False,
) -> dict[str, Any]:
    """card.extra for an engine (flat keys; see ENGINE_KEYS)."""
    return {
        "backend": "tensorrt",
        "tensorrt_version": tensorrt_version,
        "gpu_name": gpu_name,
        "compute_capability": compute_capability,
        "build_path": plan.path_name,
        "path_id": plan.path_id,
        "builder_flags": list(flags),
        "strongly_typed": bool(plan.strongly_typed),
        "dla_core": dla_core,
        "gpu_fallback": bool(gpu_fallback),
        "profile": profile,
        "calibration": calibration,
        "onnx_sha256": onnx_sha256,
        "engine_sha256": engine_sha256,
        "engine_size": int(engine_size),
        "build_seconds": round(float(build_seconds), 3),
        "build_command": build_command,
        "workspace_mib": workspace_mib,
        "tf32": bool(tf32),
    }
