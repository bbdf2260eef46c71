"""``edgeseg`` command line. Each subcommand lives in ``edgeseg/commands/<name>.py`` and exposes
``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``. Command modules import
heavy libraries (torch, onnx, tensorrt) inside ``run`` so ``edgeseg --help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import shlex
import signal
import sys
import threading
from typing import Iterator, Sequence

from edgeseg import __version__
from edgeseg.errors import EdgesegError

#: Subcommand -> module. Explicit and ordered as the pipeline flows.
COMMANDS: dict[str, str] = {
    "doctor": "edgeseg.commands.doctor",
    "models": "edgeseg.commands.models",
    "train": "edgeseg.commands.train",
    "eval": "edgeseg.commands.eval",
    "predict": "edgeseg.commands.predict",
    "export": "edgeseg.commands.export",
    "quantize": "edgeseg.commands.quantize",
    "check-qdq": "edgeseg.commands.check_qdq",
    "build": "edgeseg.commands.build",
    "trt-check": "edgeseg.commands.trt_check",
    "bench": "edgeseg.commands.bench",
    "profile": "edgeseg.commands.profile",
    "report": "edgeseg.commands.report",
    "camera": "edgeseg.commands.camera",
    "demo": "edgeseg.commands.demo",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgeseg",
        description="Train, quantize, build and benchmark lightweight segmentation models for edge devices.",
    )
    parser.add_argument("--version", action="version", version=f"edgeseg {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, modname in COMMANDS.items():
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name == modname:  # command not written yet
                continue
            raise
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks")
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """For the block, SIGTERM raises KeyboardInterrupt in the main thread, so a command cleans up as it
    does on Ctrl-C (``bench`` kills its row worker, temporary folders go, outputs stay atomic) instead of
    dying with its worker processes orphaned. Commands that handle SIGTERM themselves (``train``,
    ``camera``) install their own handler inside the block. Off the main thread: nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    # The exact command, for cards (``train`` and ``quantize`` record it): the argv this call parsed, not
    # the process's (under ``main([...])`` in a test or a script, sys.argv is the caller's).
    args.command_line = "edgeseg " + shlex.join(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 1
    try:
        with sigterm_as_interrupt():
            return int(args._run(args) or 0)
    except EdgesegError as e:
        if args.debug:
            raise
        print(f"edgeseg {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"edgeseg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
