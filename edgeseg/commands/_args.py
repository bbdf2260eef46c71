"""Shared argument parsing for subcommands: sizes and numbers, with messages saying what was expected."""

from __future__ import annotations

import argparse
import re

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


def parse_size(text: str) -> tuple[int, int]:
    """argparse ``type=`` for sizes ('360x480', or '360' for a square)."""
    try:
        return size_from_text(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def nonneg_int(text: str) -> int:
    """argparse ``type=``: a whole number >= 0."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, found {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, found {v}")
    return v


def positive_int(text: str) -> int:
    """argparse ``type=``: a whole number >= 1."""
    v = nonneg_int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, found {v}")
    return v


def seconds(text: str) -> float:
    """argparse ``type=``: a number of seconds >= 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds (a number >= 0), found {text!r}") from None
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"expected seconds (a number >= 0), found {text!r}")
    return v


def int_in(lo: int, hi: int | None = None):
    """argparse ``type=``: a whole number in ``lo..hi`` (``hi`` None: no upper bound). argparse puts
    the option's name in front of the message: "argument --epochs: expected a whole number >= 1, found 0"."""

    def check(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, found {text!r}") from None
        if v < lo or (hi is not None and v > hi):
            want = f">= {lo}" if hi is None else f"in {lo}..{hi}"
            raise argparse.ArgumentTypeError(f"expected a whole number {want}, found {v}")
        return v

    check.__name__ = "whole number"
    return check


def float_in(lo: float, hi: float | None = None, *, above: bool = False):
    """argparse ``type=``: a finite number >= ``lo`` (> ``lo`` when ``above``), <= ``hi`` when given."""

    def check(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, found {text!r}") from None
        low_ok = v > lo if above else v >= lo
        if not (low_ok and (hi is None or v <= hi)) or v != v:
            want = f"{'>' if above else '>='} {lo:g}" + ("" if hi is None else f" and <= {hi:g}")
            raise argparse.ArgumentTypeError(f"expected a number {want}, found {text}")
        return v

    check.__name__ = "number"
    return check


def size_in(lo: int, hi: int):
    """argparse ``type=``: a size (as ``parse_size``) whose sides are in ``lo..hi``."""

    def check(text: str) -> tuple[int, int]:
        h, w = parse_size(text)
        if not (lo <= h <= hi and lo <= w <= hi):
            raise argparse.ArgumentTypeError(f"height and width must be in {lo}..{hi}, found {h}x{w}")
        return h, w

    check.__name__ = "size"
    return check


class _DeprecatedAlias(argparse.Action):
    """Stores like the option it stands for and notes the new spelling on stderr once per use."""

    def __init__(self, option_strings, dest, *, new: str, **kwargs):
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        import sys

        print(f"note: {option_string} is deprecated; use {self.new} (same meaning)", file=sys.stderr)
        setattr(namespace, self.dest, values)


def deprecated_alias(group, old: str, *, new: str, dest: str, **kwargs) -> None:
    """Accept ``old`` as a hidden spelling of ``new`` (same ``dest`` and ``type``/``choices`` in ``kwargs``):
    it works, is absent from ``--help`` and prints one deprecation note."""
    group.add_argument(old, dest=dest, action=_DeprecatedAlias, new=new, help=argparse.SUPPRESS,
                       default=argparse.SUPPRESS, **kwargs)


def plural(n: int, word: str) -> str:
    """``plural(1, "epoch")`` -> "1 epoch", ``plural(2, "epoch")`` -> "2 epochs"."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def max_threads() -> int:
    """The most CPU threads a command accepts: 4x the cores this process may use (at least 8), so a
    typo such as --threads 100000 is refused before a runtime spawns them."""
    import os

    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(8, 4 * cores)


def bounded_threads(parse):
    """Wrap an argparse ``type=`` for a thread count with the machine's upper bound (``max_threads``)."""

    def check(text: str) -> int:
        v = parse(text) if parse is not None else int(text)
        hi = max_threads()
        if v is not None and v > hi:
            raise argparse.ArgumentTypeError(f"expected at most {hi} threads (4x this machine's cores), found {v}")
        return v

    check.__name__ = getattr(parse, "__name__", "whole number")
    return check
