"""Shared argument parsing helpers for subcommands."""

from __future__ import annotations

import argparse


def parse_size(text: str) -> tuple[int, int]:
    """'360x480' -> (360, 480); '360' -> (360, 360). Raises argparse errors with the expected form."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        vals = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size like 360x480 (HEIGHTxWIDTH), found {text!r}") from None
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2 or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"expected a size like 360x480 (HEIGHTxWIDTH) with positive numbers, found {text!r}")
    return vals[0], vals[1]
