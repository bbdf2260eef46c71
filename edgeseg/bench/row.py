"""``RowResult``: one benchmark row as ``edgeseg bench`` writes it into a results file's ``rows`` and
``edgeseg report`` reads it. Every committed results file reads unchanged: keys this record does not
name are kept in ``more`` and written back as they were (``to_dict``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from edgeseg.card import BUILD_SECONDS_KEYS, build_seconds_of

#: The card's build-time spellings (the one written first) and their one reader.
card_build_seconds = build_seconds_of
__all__ = ["BUILD_SECONDS_KEYS", "RowResult", "card_build_seconds"]


@dataclass(frozen=True)
class RowResult:
    """One results row; a number is None when the row did not measure it. ``state`` "ok", "skipped:
    why", "failed: why" (``schema.state_kind``); ``build_s``: the artifact's build time (the card's)."""

    id: str
    artifact: str | None = None
    state: str = "failed: no state"
    model: str | None = None
    arch: str | None = None
    backend: str | None = None
    precision: str | None = None
    quantization: str | None = None
    calibration_method: str | None = None
    device: str | None = None
    threads: int | None = None
    input_size: list[int] | None = None
    file_size_mb: float | None = None
    build_s: float | None = None
    params: int | None = None
    gflops: float | None = None
    roofline_x: float | None = None
    roofline_int8_x: float | None = None
    roofline_bound: str | None = None
    roofline_int8_bound: str | None = None
    mbytes: float | None = None
    conv_gflops: dict[str, float] | None = None  # {"dense", "channel_wise"} (bench.flops.conv_flops_by_kind)
    time_split: dict[str, Any] | None = None  # time by kind of work (bench.time_split), when profiled
    latency_ms: dict[str, float] | None = None
    accuracy: dict[str, Any] | None = None
    memory: dict[str, Any] | None = None
    batches: list[dict[str, Any]] = field(default_factory=list)
    card: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    runner_options: dict[str, Any] = field(default_factory=dict)
    make: list[list[Any]] = field(default_factory=list)
    rounds: list[Any] = field(default_factory=list)
    more: dict[str, Any] = field(default_factory=dict)  # every other key, as written

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> RowResult:
        """Read a results row (any edgeseg.bench/1 file); a row without ``build_s`` takes its card's."""
        names = {f.name for f in fields(cls)} - {"more"}
        kw = {k: v for k, v in row.items() if k in names and v is not None}
        if "build_s" not in row:
            kw["build_s"] = card_build_seconds(((row.get("card") or {}).get("extra")))
        kw.setdefault("id", str(row.get("id")))
        return cls(**kw, more={k: v for k, v in row.items() if k not in names})

    def to_dict(self) -> dict[str, Any]:
        """The row as a dict: every named field (None when the file had no such key), then the others."""
        return {**{f.name: getattr(self, f.name) for f in fields(self) if f.name != "more"}, **self.more}
