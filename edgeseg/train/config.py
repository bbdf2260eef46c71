"""The training run's settings (``TrainConfig``, stored in every checkpoint and compared on resume)
and the check that a batch fits the training set."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from edgeseg.errors import EdgesegError


@dataclass
class TrainConfig:
    """Defaults follow the CGNet recipe: Adam lr 1e-3, weight decay 5e-4, poly 0.9, batch 8, crop 360.
    ``epochs`` may be None when ``time_budget_s`` is set (train until the budget is spent)."""

    model: str = "cgnet"
    data: str = "synthetic"
    out: str = "runs/train"
    epochs: int | None = 10
    batch: int = 8
    crop: tuple[int, int] = (360, 360)
    scale: tuple[float, float] = (0.5, 2.0)
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 5e-4
    momentum: float = 0.9
    poly_power: float = 0.9
    schedule: str = "poly"
    warmup: int = 0
    time_budget_s: float | None = None
    progressive: str | None = None
    recipe: str = "paper"
    class_weights: bool = True
    val_every: int = 1
    val_split: str = "val"
    val_max_frames: int | None = None
    train_split: str = "train"
    seed: int = 0
    workers: int = 0
    device: str = "auto"
    amp: bool = True
    threads: int | None = None
    synthetic_size: tuple[int, int] = (120, 160)
    bad_labels: str = "error"
    arch_args: dict[str, Any] = field(default_factory=dict)
    max_steps_per_epoch: int | None = None  # for smoke runs
    command: str = ""

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))


def check_batch_fits(frames: int, *, batch: int, world: int = 1) -> None:
    """EdgesegError when ``batch`` (per process) exceeds what the training set gives each process:
    with ``drop_last`` such an epoch has no step and the run would never progress."""
    per = frames // max(1, world)
    if batch > per:
        raise EdgesegError(
            f"--batch {batch} is larger than the training set ({frames} frames"
            + (f", {per} per process" if world > 1 else "")
            + f"): no full batch per epoch; "
            f"use --batch {max(1, per)} or fewer, or more data"
        )
