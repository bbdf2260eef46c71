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
from edgeseg.commands._args import bounded_threads, non_empty
from edgeseg.commands._policy import Io, apply as apply_policy
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


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``edgeseg train: error: argument --batch: ... (see edgeseg train
    -h)``."""

    def error(self, message: str):  # type: ignore[override]
        print(f"{self.prog}: error: {message} (see {self.prog} -h)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="edgeseg",
        description="Train, quantize, build and benchmark lightweight segmentation models for edge devices.",
    )
    parser.add_argument("--version", action="version", version=f"edgeseg {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, modname in COMMANDS.items():
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name == modname:  # command not written yet
                continue
            raise
        io = getattr(mod, "IO", None)
        if not isinstance(io, Io):  # the output policy cannot be forgotten by a new command
            raise TypeError(f"{modname} declares no IO = Io(...) (edgeseg/commands/_policy.py)")
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks")
        mod.add_arguments(p)
        for action in p._actions:  # checks every command's (and backend option's) values share
            if action.dest == "threads" and action.type is not None:  # one bound for thread counts
                action.type = bounded_threads(action.type)
            elif action.option_strings and action.nargs != 0 and action.type is None and not action.choices:
                action.type = non_empty  # an untyped value (path, spec, name): blank is refused as parsed
        if io.writes and "--force" not in p._option_string_actions:
            p.add_argument(
                "--force",
                action="store_true",
                help="replace existing outputs of another precision, or a finished run (never an input)",
            )
        flags = {a.dest: max(a.option_strings, key=len) for a in p._actions if a.option_strings}
        p.set_defaults(_run=mod.run, _io=io, _flags=flags)
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
        with sigterm_as_interrupt(), apply_policy(args, args._io):
            return int(args._run(args) or 0)
    except EdgesegError as e:
        if args.debug:
            raise
        return _say(args, str(e), e.exit_code)
    except KeyboardInterrupt:
        return _say(args, "interrupted", 130, prefix="")
    except BrokenPipeError:  # stdout closed by the reader (| head): nothing more to say to anyone
        _silence_stdout()
        return 0
    except Exception as e:  # noqa: BLE001 - the one place an unexpected failure becomes one line
        if args.debug:
            raise
        return _say(args, unexpected_error(e), 2)


def unexpected_error(e: BaseException) -> str:
    """One line for a failure edgeseg did not raise on purpose: the OS's words for a file error (full
    disk, permissions), the library's message otherwise, and how to see the traceback."""
    if isinstance(e, OSError) and e.strerror:
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{e.strerror}" + (
            " (the disk is full: free space and run again)" if e.errno == 28 else ""
        )
    if isinstance(e, MemoryError):
        return "out of memory (use smaller inputs, a smaller batch or fewer threads)"
    text = " ".join(str(e).split())[:300] or "no message"
    return f"unexpected {type(e).__name__}: {text} (run with --debug for the traceback)"


def _say(args: argparse.Namespace, message: str, code: int, *, prefix: str = "error: ") -> int:
    try:
        print(f"edgeseg {args.command}: {prefix}{message}", file=sys.stderr)
    except OSError:  # stderr itself closed or full: the exit code still says it
        pass
    return code


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
