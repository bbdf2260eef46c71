"""Opening the calibration set a build uses (``edgeseg.data.calib_request.CalibRequest.open``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from edgeseg.card import ModelCard
from edgeseg.data.calib_request import CalibRequest
from edgeseg.errors import BuildError


def open_calib_set(
    source: str | CalibRequest, card: ModelCard, *, num: int | None, batch: int, size: tuple[int, int]
) -> Any:
    """The CalibrationSet of ``source`` (a request, or its source) with up to ``num`` frames when given
    (None: the request's count, else 256), preprocessed from ``card`` at ``size`` (H, W), served in
    batches of ``batch``; BuildError when it has fewer frames than one batch."""
    request = source if isinstance(source, CalibRequest) else CalibRequest(source=source)
    if num is not None:
        request = replace(request, num=int(num))
    cs = request.open(card, size=size, batch=int(batch))
    if len(cs) < batch:
        raise BuildError(
            f"calibration set {request.source!r} has {len(cs)} frame(s), fewer than one batch of {batch}"
        )
    return cs
