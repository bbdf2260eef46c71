"""Training recipes: named defaults for the options that set the schedule, chosen by ``--recipe``.

``paper`` is the CGNet paper's (Adam 1e-3, poly 0.9, full-size crops throughout). ``cpu`` is the
recipe that bought the most accuracy per CPU-hour in the proxy comparison of docs/training.md.
``auto`` (the CLI default) takes ``cpu`` when training runs on a CPU and ``paper`` on a GPU.
Options given on the command line always win over a recipe's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeseg.errors import EdgesegError


@dataclass(frozen=True)
class Recipe:
    """Schedule defaults. ``progressive``: (crop side ratio, run fraction) of the small-crop phase,
    or None; the small crop is ``--crop`` times the ratio, rounded to a multiple of 8."""

    lr: float
    schedule: str
    warmup: int
    progressive: tuple[float, float] | None
    note: str


RECIPES: dict[str, Recipe] = {
    "paper": Recipe(
        lr=1e-3,
        schedule="poly",
        warmup=0,
        progressive=None,
        note="CGNet paper: Adam 1e-3, poly 0.9, full-size crops",
    ),
    "cpu": Recipe(
        lr=2e-3,
        schedule="poly",
        warmup=90,
        progressive=(0.711, 0.8),
        note="most val mIoU per CPU-hour in the proxy comparison (docs/training.md)",
    ),
}


def pick_recipe(name: str, *, device: str) -> str:
    """The recipe ``name`` means on ``device`` ('auto' -> 'cpu' on a CPU, else 'paper')."""
    if name == "auto":
        return "cpu" if device == "cpu" else "paper"
    if name not in RECIPES:
        raise EdgesegError(f"--recipe: expected auto or one of {', '.join(RECIPES)}, found {name!r}")
    return name


def small_crop(crop: tuple[int, int], ratio: float) -> tuple[int, int] | None:
    """The progressive phase's crop for ``crop`` (None when it would not be smaller, or under 32)."""
    small = tuple(max(32, int(round(side * ratio / 8)) * 8) for side in crop)
    return None if any(s >= c for s, c in zip(small, crop)) else small  # type: ignore[return-value]


def recipe_defaults(name: str, *, crop: tuple[int, int]) -> dict[str, object]:
    """TrainConfig fields the recipe sets: lr, schedule, warmup, progressive ('HxW@F' or None)."""
    r = RECIPES[name]
    prog = None
    if r.progressive is not None:
        s = small_crop(crop, r.progressive[0])
        prog = f"{s[0]}x{s[1]}@{r.progressive[1]}" if s else None
    return {"lr": r.lr, "schedule": r.schedule, "warmup": r.warmup, "progressive": prog}
