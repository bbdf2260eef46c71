"""Value checks with messages saying what was expected; argparse-free (``ValueError``).

The library (build options in backend specs) uses them as they are; ``commands/_args.py`` wraps each
into an argparse ``type=`` that reports the same message ("argument --epochs: expected ...").
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, replace
from typing import Any, Callable, TypeVar

MAX_SIDE = 16384
_SIZE_RE = re.compile(r"^\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*$")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Domain:
    """What a check accepts, declared beside it (its ``domain`` attribute) so that the values it must refuse
    can be derived from the declaration, not from its behaviour (``tests/faults/_gen_values.py``): ``kind``
    "int" (whole numbers), "float" (finite numbers), "size" (HEIGHTxWIDTH, or one side for a square;
    the bounds are a side's) or "text" (any text but a blank one: a path, a spec, a name); ``lo``/``hi``
    bounds (None: none); ``above``: ``lo`` itself is refused."""

    kind: str
    lo: float | None = None
    hi: float | None = None
    above: bool = False

    def holds(self, value: float) -> bool:
        """Whether the number ``value`` (a size: both sides) is accepted."""
        if not math.isfinite(value) or (self.kind != "float" and value != int(value)):
            return False
        if self.lo is not None and (value <= self.lo if self.above else value < self.lo):
            return False
        return self.hi is None or value <= self.hi


def declare(check: F, domain: Domain) -> F:
    """``check`` with its ``domain`` attribute set (what it accepts)."""
    check.domain = domain  # type: ignore[attr-defined]
    return check


def non_empty(text: str) -> str:
    """Any text but an empty or blank one (a path, a data spec, a name): ``-o ""`` is a slip, not a request
    for the default output."""
    if not text.strip():
        raise ValueError(f"expected a value, found {text!r}")
    return text


declare(non_empty, Domain("text"))


def size_from_text(text: str) -> tuple[int, int]:
    """'360x480' -> (360, 480); '360' -> (360, 360). ValueError says what was expected."""
    m = _SIZE_RE.match(text or "")
    if not m:
        raise ValueError(f"expected HEIGHTxWIDTH such as 360x480, found {text!r}")
    h = int(m.group(1))
    w = int(m.group(2)) if m.group(2) else h
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise ValueError(f"height and width must be in 1..{MAX_SIDE}, found {h}x{w}")
    return h, w


declare(size_from_text, Domain("size", 1, MAX_SIDE))


def size_from_value(value: Any) -> tuple[int, int]:
    """A size as text ('360x480', '360'), a whole number (a square) or a pair [360, 480] -> (H, W);
    ValueError says what was expected (the one size check: the CLI, matrices and models use it)."""
    if isinstance(value, str):
        return size_from_text(value)
    if isinstance(value, bool):
        raise ValueError(f"expected HEIGHTxWIDTH such as 360x480, found {value!r}")
    if isinstance(value, int):
        value = (value, value)
    if not (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise ValueError(f"expected HEIGHTxWIDTH such as 360x480 or [360, 480], found {value!r}")
    h, w = value
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise ValueError(f"height and width must be in 1..{MAX_SIDE}, found {h}x{w}")
    return h, w


def parse_size(value: Any, *, where: str) -> tuple[int, int]:
    """``size_from_value`` with an EdgesegError naming ``where`` (an option or a file position)."""
    from edgeseg.errors import EdgesegError

    try:
        return size_from_value(value)
    except ValueError as e:
        raise EdgesegError(f"{where}: {e}") from None


def nonneg_int(text: str) -> int:
    """A whole number >= 0."""
    try:
        v = int(text)
    except ValueError:
        raise ValueError(f"expected a whole number, found {text!r}") from None
    if v < 0:
        raise ValueError(f"expected a number >= 0, found {v}")
    return v


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    v = nonneg_int(text)
    if v < 1:
        raise ValueError(f"expected a number >= 1, found {v}")
    return v


def seconds(text: str) -> float:
    """A finite number of seconds >= 0."""
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"expected seconds (a number >= 0), found {text!r}") from None
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(
            f"expected seconds (a {'finite ' if v == math.inf else ''}number >= 0), found {text!r}"
        )
    return v


declare(nonneg_int, Domain("int", 0))
declare(positive_int, Domain("int", 1))
declare(seconds, Domain("float", 0))


def int_in(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """A check for a whole number in ``lo..hi`` (``hi`` None: no upper bound)."""

    def check(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise ValueError(f"expected a whole number, found {text!r}") from None
        if v < lo or (hi is not None and v > hi):
            want = f">= {lo}" if hi is None else f"in {lo}..{hi}"
            raise ValueError(f"expected a whole number {want}, found {v}")
        return v

    check.__name__ = "whole number"
    return declare(check, Domain("int", lo, hi))


def float_in(lo: float, hi: float | None = None, *, above: bool = False) -> Callable[[str], float]:
    """A check for a finite number >= ``lo`` (> ``lo`` when ``above``), <= ``hi`` when given."""

    def check(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise ValueError(f"expected a number, found {text!r}") from None
        low_ok = v > lo if above else v >= lo
        if not (math.isfinite(v) and low_ok and (hi is None or v <= hi)):
            want = f"{'>' if above else '>='} {lo:g}" + ("" if hi is None else f" and <= {hi:g}")
            finite = "" if math.isfinite(v) else "finite "
            raise ValueError(f"expected a {finite}number {want}, found {text}")
        return v

    check.__name__ = "number"
    return declare(check, Domain("float", lo, hi, above))


def size_in(lo: int, hi: int) -> Callable[[str], tuple[int, int]]:
    """A check for a size (as ``size_from_text``) whose sides are in ``lo..hi``."""

    def check(text: str) -> tuple[int, int]:
        h, w = size_from_text(text)
        if not (lo <= h <= hi and lo <= w <= hi):
            raise ValueError(f"height and width must be in {lo}..{hi}, found {h}x{w}")
        return h, w

    check.__name__ = "size"
    return declare(check, Domain("size", lo, hi))


def max_threads() -> int:
    """The most CPU threads accepted: 4x the cores this process may use (at least 8), so a typo such
    as --threads 100000 is refused before a runtime spawns them."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(8, 4 * cores)


def bounded_threads(parse: Callable[[str], int] | None) -> Callable[[str], int]:
    """Wrap a thread-count check with the machine's upper bound (``max_threads``)."""

    def check(text: str) -> int:
        v = parse(text) if parse is not None else int(text)
        hi = max_threads()
        if v is not None and v > hi:
            raise ValueError(f"expected at most {hi} threads (4x this machine's cores), found {v}")
        return v

    check.__name__ = getattr(parse, "__name__", "whole number")
    inner = getattr(parse, "domain", None) or Domain("int")
    hi = max_threads()
    return declare(check, replace(inner, hi=hi if inner.hi is None else min(inner.hi, hi)))
