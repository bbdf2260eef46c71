"""Value checks with messages saying what was expected; argparse-free (``ValueError``).

The library (build options in backend specs) uses them as they are; ``commands/_args.py`` wraps each
into an argparse ``type=`` that reports the same message ("argument --epochs: expected ...").
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable

MAX_SIDE = 16384
_SIZE_RE = re.compile(r"^\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*$")


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
    """A number of seconds >= 0."""
    try:
        v = float(text)
    except ValueError:
        raise ValueError(f"expected seconds (a number >= 0), found {text!r}") from None
    if not v >= 0:
        raise ValueError(f"expected seconds (a number >= 0), found {text!r}")
    return v


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
    return check


def float_in(lo: float, hi: float | None = None, *, above: bool = False) -> Callable[[str], float]:
    """A check for a finite number >= ``lo`` (> ``lo`` when ``above``), <= ``hi`` when given."""

    def check(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise ValueError(f"expected a number, found {text!r}") from None
        low_ok = v > lo if above else v >= lo
        if not (low_ok and (hi is None or v <= hi)) or v != v:
            want = f"{'>' if above else '>='} {lo:g}" + ("" if hi is None else f" and <= {hi:g}")
            raise ValueError(f"expected a number {want}, found {text}")
        return v

    check.__name__ = "number"
    return check


def size_in(lo: int, hi: int) -> Callable[[str], tuple[int, int]]:
    """A check for a size (as ``size_from_text``) whose sides are in ``lo..hi``."""

    def check(text: str) -> tuple[int, int]:
        h, w = size_from_text(text)
        if not (lo <= h <= hi and lo <= w <= hi):
            raise ValueError(f"height and width must be in {lo}..{hi}, found {h}x{w}")
        return h, w

    check.__name__ = "size"
    return check


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
    return check
