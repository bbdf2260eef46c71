"""Shared argument parsing for subcommands: sizes and numbers, with messages saying what was expected."""

from __future__ import annotations

import argparse
from typing import Any, Callable

from edgeseg import _validate
from edgeseg._validate import MAX_SIDE, max_threads, size_from_text

__all__ = [
    "MAX_SIDE",
    "argtype",
    "bounded_threads",
    "deprecated_alias",
    "float_in",
    "int_in",
    "max_threads",
    "non_empty",
    "nonneg_int",
    "parse_size",
    "plural",
    "add_option",
    "positive_int",
    "seconds",
    "size_from_text",
    "size_in",
]


def argtype(check: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type=`` from an argparse-free check (``edgeseg._validate``): its ValueError becomes
    ArgumentTypeError, so argparse prints the check's own message after the option's name. Other types
    (``int``, ``float``) and checks already wrapped are returned as they are."""
    if getattr(check, "_argtype", False) or getattr(check, "__module__", None) != _validate.__name__:
        return check

    def parse(text: str) -> Any:
        try:
            return check(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = getattr(check, "__name__", "value")
    parse._argtype = True  # type: ignore[attr-defined]
    parse.domain = getattr(check, "domain", None)  # type: ignore[attr-defined]  # what it accepts
    return parse


parse_size = argtype(size_from_text)  # sizes ('360x480', or '360' for a square)
non_empty = argtype(_validate.non_empty)  # any text but a blank one (a path, a spec, a name)
nonneg_int = argtype(_validate.nonneg_int)  # a whole number >= 0
positive_int = argtype(_validate.positive_int)  # a whole number >= 1
seconds = argtype(_validate.seconds)  # a number of seconds >= 0


def int_in(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """argparse ``type=``: a whole number in ``lo..hi`` (``hi`` None: no upper bound). argparse puts
    the option's name in front of the message: "argument --epochs: expected a whole number >= 1, found 0"."""
    return argtype(_validate.int_in(lo, hi))


def float_in(lo: float, hi: float | None = None, *, above: bool = False) -> Callable[[str], float]:
    """argparse ``type=``: a finite number >= ``lo`` (> ``lo`` when ``above``), <= ``hi`` when given."""
    return argtype(_validate.float_in(lo, hi, above=above))


def size_in(lo: int, hi: int) -> Callable[[str], tuple[int, int]]:
    """argparse ``type=``: a size (as ``parse_size``) whose sides are in ``lo..hi``."""
    return argtype(_validate.size_in(lo, hi))


def bounded_threads(parse: Callable[[str], int] | None) -> Callable[[str], int]:
    """Wrap an argparse ``type=`` for a thread count with the machine's upper bound (``max_threads``)."""
    return argtype(_validate.bounded_threads(parse))


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
    group.add_argument(
        old,
        dest=dest,
        action=_DeprecatedAlias,
        new=new,
        help=argparse.SUPPRESS,
        default=argparse.SUPPRESS,
        **kwargs,
    )


def add_option(group, opt: Any, *, help: str | None = None) -> None:
    """Add a declared ``Option`` (``edgeseg.backends._spec.Option``) to an argparse ``group``: its flag,
    dest = param, default None (= not given), its argparse-free check wrapped by ``argtype``, ``help``
    (default the option's own), and its former spellings as hidden deprecated aliases."""
    kw = opt.argparse_kwargs()
    if "type" in kw:  # the argparse-free check, reporting its own message
        kw["type"] = argtype(kw["type"])
    group.add_argument(opt.flag, **{**kw, "help": opt.help if help is None else help})
    for old in opt.aliases:  # former spellings: accepted, hidden from --help, one deprecation note
        deprecated_alias(
            group,
            old,
            new=opt.flag,
            dest=opt.param,
            **{k: v for k, v in kw.items() if k in ("type", "choices")},
        )


def plural(n: int, word: str) -> str:
    """``plural(1, "epoch")`` -> "1 epoch", ``plural(2, "epoch")`` -> "2 epochs"."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
