"""Opening the calibration set a build uses (``edgeseg.data.calib.CalibrationSet``)."""

from __future__ import annotations

from typing import Any

from edgeseg.card import ModelCard
from edgeseg.errors import BuildError


def open_calib_set(
    source: str, card: ModelCard, *, num: int | None, batch: int, size: tuple[int, int]
) -> Any:
    """A CalibrationSet of up to ``num`` frames (None: CalibrationSet's default, 256), preprocessed
    from ``card`` at ``size`` (H, W), served in batches of ``batch``."""
    from edgeseg.data.calib import CalibrationSet

    kw: dict[str, Any] = {"batch": int(batch), "size": (int(size[0]), int(size[1]))}
    if num is not None:
        kw["num"] = int(num)
    cs = CalibrationSet(source, card, **kw)
    if len(cs) < batch:
        raise BuildError(
            f"calibration set {source!r} has {len(cs)} frame(s), fewer than one batch of {batch}"
        )
    return cs
