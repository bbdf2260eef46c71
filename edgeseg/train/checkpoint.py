"""Checkpoints: a dict of tensors and plain types with the model card, saved atomically and
loaded with ``torch.load(weights_only=True)`` (a pickle that carries code is refused).
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from edgeseg._io import atomic_write_bytes, sha256_file
from edgeseg.card import ModelCard
from edgeseg.errors import CheckpointError

FORMAT = "edgeseg.checkpoint/1"


def save_checkpoint(
    path: str | os.PathLike,
    *,
    model: nn.Module,
    card: ModelCard,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    epoch: int = 0,
    state: dict[str, Any] | None = None,
) -> Path:
    """Write ``path`` atomically. Refuses to save weights containing NaN/Inf."""
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    bad = [k for k, v in sd.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"refusing to save {path}: non-finite values in {bad[:3]} (training diverged)")
    payload: dict[str, Any] = {
        "format": FORMAT,
        "card": card.to_dict(),
        "model": sd,
        "epoch": int(epoch),
    }
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        payload["scheduler"] = scheduler.state_dict()
    if state:
        payload["state"] = state
    buf = io.BytesIO()
    torch.save(payload, buf)
    return atomic_write_bytes(path, buf.getvalue())


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load the raw payload safely; clear errors for missing, corrupt, foreign or unsafe files."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint not found")
    from edgeseg._sniff import describe_file

    found = describe_file(p)
    if found is not None and not found.startswith(("a zip archive", "a pickle")):
        raise CheckpointError(f"{p}: expected an edgeseg .pt checkpoint, found {found}")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for bad files
        msg = str(e).splitlines()[0][:200] if str(e) else e.__class__.__name__
        if "weights_only" in str(e) or "Unsupported global" in str(e):
            raise CheckpointError(
                f"{p}: refused: the file carries Python objects beyond tensors and plain types "
                "(loaded with weights_only=True); only load checkpoints written by edgeseg"
            ) from e
        raise CheckpointError(f"{p}: not a readable checkpoint (truncated or corrupt?): {msg}") from e
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{p}: not an edgeseg checkpoint (expected format {FORMAT!r}, found {found!r})")
    return payload


def load_checkpoint(
    path: str | os.PathLike,
    *,
    expect_arch: str | None = None,
    expect_classes: int | None = None,
) -> tuple[nn.Module, ModelCard, dict[str, Any]]:
    """Build the model named in the card and load its weights. Returns (model in eval mode, card, payload)."""
    from edgeseg.models import build_model

    p = Path(path)
    payload = read_checkpoint(p)
    card = ModelCard.from_dict(payload["card"], where=str(p))
    if expect_arch and card.arch != expect_arch:
        raise CheckpointError(f"{p}: checkpoint is a {card.arch!r} model, expected {expect_arch!r}")
    if expect_classes and card.num_classes != expect_classes:
        raise CheckpointError(f"{p}: checkpoint has {card.num_classes} classes, expected {expect_classes}")
    model = build_model(card.arch, num_classes=card.num_classes, **card.arch_args)
    weights = payload["model"]
    if (
        payload.get("weights_dtype") == "float16"
    ):  # stored in half precision (save_half_checkpoint): compute in float32
        weights = {k: v.float() if v.dtype == torch.float16 else v for k, v in weights.items()}
    check_finite(weights, where=str(p))
    weights, _ = zero_subnormals(weights)
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        raise CheckpointError(
            f"{p}: weights do not fit a {card.arch!r} model: {_state_dict_mismatch(e)}"
        ) from e
    model.eval()
    return model, card, payload


def check_finite(weights: dict[str, Any], *, where: str) -> None:
    """CheckpointError naming the first tensor holding NaN or infinity (such weights give confident
    nonsense: a NaN evaluates to under 1 % mIoU and predicts one class everywhere, with exit code 0)."""
    for k, v in weights.items():
        if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all()):
            bad = int((~torch.isfinite(v)).sum())
            raise CheckpointError(
                f"{where}: weight {k!r} holds {bad} NaN/infinite value(s) of {v.numel()}; "
                "the checkpoint is corrupt or its training diverged"
            )


def _state_dict_mismatch(e: RuntimeError) -> str:
    """PyTorch's load_state_dict message without its header line: the keys and shapes that differ."""
    lines = [ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()] or [str(e).strip()]
    return " ".join(" ".join(lines).split())[:400]


def zero_subnormals(weights: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """``weights`` with float32/float64 subnormal values (|x| < 1.2e-38, nonzero) set to 0, and their count.

    Weight decay leaves some weights of a long training there (the shipped CGNet: 56,253 of 504,510).
    They change no output (max|diff| 0.0), but x86 CPUs, Intel's most, compute with them many times
    slower: PyTorch and ONNX Runtime FP32 ran the CGNet 3.3x slower on a Xeon (313 vs 95 ms), and
    flush-to-zero set by ``torch.set_flush_denormal`` does not reach their worker threads. A new dict;
    the input is left as it was."""
    out, count = {}, 0
    for k, v in weights.items():
        if torch.is_tensor(v) and v.dtype in (torch.float32, torch.float64):
            sub = (v != 0) & (v.abs() < torch.finfo(v.dtype).tiny)
            n = int(sub.sum())
            if n:
                v, count = v.masked_fill(sub, 0.0), count + n
        out[k] = v
    return out, count


def save_half_checkpoint(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Write ``src``'s payload to ``dst`` with its float32 weights stored as float16 (about half the file;
    optimizer and scheduler state dropped). ``load_checkpoint`` casts them back to float32. For shipping
    the larger models under 12 MB: check ``edgeseg eval`` of both files agrees within 0.05 point first."""
    payload = read_checkpoint(src)
    weights = payload["model"]
    half = {k: v.half() if v.dtype == torch.float32 else v for k, v in weights.items()}
    bad = [k for k, v in half.items() if v.dtype == torch.float16 and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(
            f"{src}: weights overflow float16 in {bad[:3]}; keep this checkpoint in float32"
        )
    out = {k: v for k, v in payload.items() if k not in ("optimizer", "scheduler")}
    out["model"], out["weights_dtype"] = half, "float16"
    buf = io.BytesIO()
    torch.save(out, buf)
    return atomic_write_bytes(dst, buf.getvalue())


def checkpoint_source(path: str | os.PathLike) -> str:
    """'<name>@sha256:<first 16 hex>' for provenance fields in cards."""
    p = Path(path)
    return f"{p.name}@sha256:{sha256_file(p)[:16]}"


def is_finite_number(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
