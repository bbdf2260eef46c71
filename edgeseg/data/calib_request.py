"""One calibration request: which frames INT8 calibration sees and how, for ``quantize`` and ``build``.

``CalibRequest`` (source, count, method, batch, seed) is what a user asks for; ``CalibrationSet``
(``edgeseg.data.calib``) is the frames it opens. The calibration methods are one table,
``CALIB_METHODS``: each method names the tools that take it, and ``check_method`` is the one check
(its one-line error names the tool, the method and what the tool takes). The card records the
request under one key, ``card.calibration["request"]``; ``CalibRequest.from_record`` also reads the
keys older cards wrote (``frames``, ``algorithm``, ``method``, ``batch``, ``source``).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from typing import Any, Mapping

from edgeseg.errors import DataError, UnsupportedOptionError

#: The card's key (inside ``card.calibration``) for the request.
RECORD_KEY = "request"
#: Frames a request without a count calibrates on when its consumer has no default of its own.
DEFAULT_NUM = 256

#: method -> (what it does, the tools that take it). Tools: "ptq" and "qat" (``edgeseg quantize``),
#: "tensorrt" (``build --backend tensorrt``'s implicit INT8), "onnxruntime" (``quantize --method
#: ort-cpu`` and ``build --backend onnxruntime --int8``: fixed, not a flag).
CALIB_METHODS: dict[str, tuple[str, tuple[str, ...]]] = {
    "max": ("the largest |activation|", ("ptq", "qat")),
    "percentile": ("a percentile of |activation|, see --percentile", ("ptq", "qat")),
    "entropy": ("least KL divergence, as TensorRT's entropy", ("ptq", "qat", "tensorrt")),
    "mse": ("least squared error", ("ptq", "qat")),
    "all": ("max, percentile, entropy and mse each on --val-data, the best kept", ("ptq", "qat")),
    "minmax": ("the running min and max", ("tensorrt", "onnxruntime")),
}
#: The default method of each tool.
DEFAULT_METHOD = {"ptq": "mse", "qat": "mse", "tensorrt": "entropy", "onnxruntime": "minmax"}


def methods_for(*tools: str) -> tuple[str, ...]:
    """The methods any of ``tools`` takes, in the table's order."""
    unknown = [t for t in tools if t not in DEFAULT_METHOD]
    if unknown:
        raise ValueError(f"calibration tool {unknown[0]!r}: expected one of {', '.join(DEFAULT_METHOD)}")
    return tuple(m for m, (_, users) in CALIB_METHODS.items() if set(users) & set(tools))


def check_method(method: str | None, *, tool: str) -> str:
    """``method`` (None: ``tool``'s default) when ``tool`` takes it; else UnsupportedOptionError naming
    the tool, the method and the methods it takes."""
    if method is None:
        return DEFAULT_METHOD[tool]
    allowed = methods_for(tool)
    if method not in allowed:
        raise UnsupportedOptionError(
            f"calibration method {method!r} for {tool}: expected one of {', '.join(allowed)}"
        )
    return method


def _whole(value: Any, *, name: str, least: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise DataError(f"calibration {name}: expected a whole number >= {least}, found {value!r}")
    return value


@dataclass(frozen=True)
class CalibRequest:
    """What INT8 calibration should see: ``source`` (a list file, an image folder or a dataset spec;
    default None: not given), ``num`` frames evenly spaced (default None: the consumer's default, e.g.
    the backend spec's ``calib_num`` or 256), ``method`` (default None: the tool's, ``DEFAULT_METHOD``),
    ``batch`` frames per calibration batch (default None: the consumer's), ``seed`` (default 0: frames
    from the first one; another seed shifts the evenly spaced picks)."""

    source: str | None = None
    num: int | None = None
    method: str | None = None
    batch: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.source is not None:
            if not isinstance(self.source, (str, os.PathLike)):
                raise DataError(f"calibration source: expected a path or spec, found {self.source!r}")
            object.__setattr__(self, "source", os.fspath(self.source))
        _whole(self.num, name="count", least=1)
        _whole(self.batch, name="batch", least=1)
        _whole(self.seed, name="seed", least=0)
        if self.method is not None and self.method not in CALIB_METHODS:
            raise UnsupportedOptionError(
                f"calibration method {self.method!r}: expected one of {', '.join(CALIB_METHODS)}"
            )

    def for_tool(self, tool: str, *, num: int | None = None, batch: int | None = None) -> CalibRequest:
        """This request with ``tool``'s method checked and defaults filled: ``num`` and ``batch`` are
        the consumer's defaults (used only where the request leaves them None)."""
        return replace(
            self,
            method=check_method(self.method, tool=tool),
            num=self.num if self.num is not None else (num if num is not None else DEFAULT_NUM),
            batch=self.batch if self.batch is not None else batch,
        )

    def open(self, card: Any, *, size: tuple[int, int], batch: int | None = None) -> Any:
        """The ``CalibrationSet`` of this request for ``card`` at ``size`` (H, W); ``batch`` overrides
        the request's (a graph with a static batch); DataError when there is no source."""
        from edgeseg.data.calib import CalibrationSet

        if not self.source:
            raise DataError("calibration: no frames given (--calib LIST|DIR|SPEC)")
        return CalibrationSet(
            self.source,
            card,
            num=self.num if self.num is not None else DEFAULT_NUM,
            batch=int(batch if batch is not None else (self.batch or 1)),
            size=(int(size[0]), int(size[1])),
            seed=self.seed,
        )

    def record(self) -> dict[str, Any]:
        """The card's record (``card.calibration["request"]``): plain JSON types."""
        return asdict(self)

    @classmethod
    def from_record(cls, calibration: Mapping[str, Any] | None) -> CalibRequest | None:
        """The request a card's ``calibration`` field records (None: not calibrated). Older cards have
        no ``request`` key: read from their ``source``, ``frames``, ``method`` (or TensorRT's
        ``algorithm``) and ``batch``."""
        if not calibration:
            return None
        rec = calibration.get(RECORD_KEY)
        if isinstance(rec, Mapping):
            return cls(
                **{k: rec.get(k) for k in ("source", "num", "method", "batch")}, seed=rec.get("seed") or 0
            )
        method = calibration.get("algorithm") or calibration.get("method")
        return cls(
            source=calibration.get("source"),
            num=calibration.get("frames"),
            method=method if method in CALIB_METHODS else None,
            batch=calibration.get("batch"),
        )
