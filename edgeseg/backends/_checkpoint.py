"""The PyTorch checkpoint behind a build that converts from PyTorch (Core ML, ExecuTorch).

Those converters take the ``.pt`` checkpoint; an edgeseg ``.onnx`` argument is only used to find
its checkpoint (named in the ONNX card's ``source``, looked up beside the ONNX and hash-checked)
and its fixed input size.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgeseg.errors import BuildError, EdgesegError


def refuse_labels_head(card: Any, path: Path, *, backend: str, why: str) -> None:
    """BuildError (one line) when ``card`` records a labels head (``edgeseg export --head labels``): for the
    backends that build logits artifacts only (Core ML, ExecuTorch, TensorRT)."""
    from edgeseg.card import head_of

    head = head_of(card)
    if head != "logits":
        raise BuildError(
            f"{path.name} ends in a {head} head: --backend {backend} builds logits artifacts only ({why}); "
            f"build it from an export with --head logits"
        )


def find_checkpoint(
    model: str | os.PathLike, *, backend: str, converter: str
) -> tuple[Path, tuple[int, int] | None, str]:
    """(checkpoint, input size from the ONNX or None, a sentence saying what was used) for ``--backend
    backend``, whose ``converter`` (e.g. "coremltools") converts from PyTorch."""
    from edgeseg._io import sha256_file
    from edgeseg.card import card_from_onnx

    p = Path(model)
    if not p.is_file():
        raise BuildError(f"{p}: file not found")
    if p.suffix == ".pt":
        return p, None, f"checkpoint {p}"
    if p.suffix != ".onnx":
        raise BuildError(
            f"{p}: --backend {backend} takes a .pt checkpoint or an edgeseg .onnx, found {p.suffix!r}"
        )
    try:
        card = card_from_onnx(p)
    except EdgesegError as e:
        raise BuildError(f"{e}; pass the .pt checkpoint instead") from e
    refuse_labels_head(
        card, p, backend=backend, why=f"{converter} converts the checkpoint, which ends in logits"
    )
    name, _, digest = card.source.partition("@sha256:")
    if not name:
        raise BuildError(
            f"{p}: its card does not name the checkpoint it came from; pass the .pt checkpoint instead"
        )
    ckpt = p.with_name(Path(name).name)
    if not ckpt.is_file():
        raise BuildError(
            f"{p} was exported from {name}, which is not beside it ({ckpt}); {converter} converts from "
            "PyTorch, "
            f"so pass the checkpoint: edgeseg build CHECKPOINT.pt --backend {backend}"
        )
    if digest and not sha256_file(ckpt).startswith(digest):
        raise BuildError(
            f"{ckpt} is not the checkpoint {p.name} was exported from (sha256 differs); pass the right .pt"
        )
    return ckpt, card.input_size, f"checkpoint {ckpt} (named by {p.name}'s card)"
