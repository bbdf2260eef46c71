"""What a resumed run must share with the run that wrote its ``last.pt``: the model, the data and
the order the data is seen in (``RESUME_KEYS``). A difference is refused with every changed option
shown, before any data is read; ``--epochs``, ``--time``, ``--val-every``, ``--threads``, ``--workers``
and the device may change (a new ``--epochs`` or ``--time`` re-fits the schedule, see docs/training.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgeseg.errors import CheckpointError

#: TrainConfig field -> the option that sets it. All of them shape the model or which samples
#: (seed, batch, crop, scale) the saved step counter points at.
RESUME_KEYS = {
    "model": "--model",
    "arch_args": "--arch-arg",
    "data": "--data",
    "train_split": "--train-split",
    "val_split": "val split",
    "synthetic_size": "--synthetic-size",
    "bad_labels": "--bad-labels",
    "crop": "--crop",
    "scale": "--scale",
    "batch": "--batch",
    "seed": "--seed",
    "max_steps_per_epoch": "--max-steps",
    "progressive": "--progressive",
}


def _same_data(a: Any, b: Any) -> bool:
    """Data specs name the same thing: equal, or the same KIND:PATH after resolving the path."""
    if a == b:
        return True
    if not (isinstance(a, str) and isinstance(b, str)):
        return False
    (ka, _, pa), (kb, _, pb) = a.partition(":"), b.partition(":")
    return ka == kb and ka != "synthetic" and bool(pa) and os.path.realpath(pa) == os.path.realpath(pb)


def _show(key: str, v: Any) -> str:
    if key in ("crop", "synthetic_size") and isinstance(v, (list, tuple)) and len(v) == 2:
        return f"{v[0]}x{v[1]}"
    if key == "arch_args" and isinstance(v, dict):
        return " ".join(f"{k}={v[k]}" for k in sorted(v)) or "(none)"
    if isinstance(v, (list, tuple)):
        return " ".join(str(x) for x in v)
    return str(v)


def resume_differences(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """'OPTION: STORED (this run: WANTED)' for every RESUME_KEYS field that differs (JSON-normal dicts)."""
    out = []
    for key, option in RESUME_KEYS.items():
        if key not in stored:  # written before the field existed
            continue
        a, b = stored[key], wanted.get(key)
        if a == b or (key == "data" and _same_data(a, b)):
            continue
        out.append(f"{option} {_show(key, a)} (this run: {_show(key, b)})")
    return out


def check_resume(path: str | os.PathLike, payload: dict[str, Any], wanted: dict[str, Any]) -> None:
    """Raise CheckpointError when ``payload`` cannot be resumed by a run configured as ``wanted``
    (TrainConfig.to_dict()): every differing model/data option (from the stored config; from the card
    for checkpoints written without one), or no optimizer state (a deployable best.pt)."""
    p = Path(path)
    stored = (payload.get("state") or {}).get("config")
    if isinstance(stored, dict):
        diffs = resume_differences(stored, wanted)
        if diffs:
            raise CheckpointError(
                f"{p}: was written by a run with other model/data settings: {'; '.join(diffs)}. "
                "A resumed run must see the same model and data; resume with the same options, or "
                "start a new "
                "run (another --out, no --resume)"
            )
    card = payload.get("card") or {}
    if card.get("arch") not in (None, wanted.get("model")):
        raise CheckpointError(
            f"{p}: checkpoint is a {card['arch']!r} model, expected {wanted.get('model')!r}"
        )
    if "arch_args" in card and card["arch_args"] != wanted.get("arch_args"):
        raise CheckpointError(
            f"{p}: was trained with {card.get('arch')} arguments {card['arch_args']}, this run asks for "
            f"{wanted.get('arch_args')}; resume with the same --arch-arg values"
        )
    if "optimizer" not in payload or "state" not in payload:
        raise CheckpointError(
            f"{p}: has no optimizer/scheduler state, so training cannot continue from it (best.pt is a "
            "deployable checkpoint without them); resume from the run's last.pt"
        )
