"""The output policy every command goes through (``cli.main`` applies it before ``run``).

Each command module declares what it reads and writes as ``IO = Io(...)``, naming its argparse
destinations; ``cli.main`` refuses a command module without one. Before any work, and before any
output folder is created:

- an output that resolves to an input (same real path, or same file through a hard link) is
  refused, for every output option and every name the command derives (``derived``);
- an existing model artifact is replaced only by one of the same precision (a rebuild), read from
  the card *on disk*; anything else needs ``--force``;
- a run folder that already holds a run needs ``--resume`` or ``--force``;
- every output (and run folder) is locked for the command's lifetime, so a second edgeseg process
  writing the same path gets a clear error instead of mixing two results.

What ``--force`` does not do: let an output replace an input (there is no safe way to do that).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from edgeseg.errors import EdgesegError

#: What a run folder holds once a run started in it.
RUN_FILES = ("best.pt", "last.pt", "final.pt", "history.json")

Derive = Callable[[argparse.Namespace], "list[tuple[str, Path]]"]


def card_suffixes() -> set[str]:
    """The file endings of every artifact kind in ``BACKENDS`` (lower case): files that carry a model
    card whose precision the overwrite guard compares."""
    from edgeseg.backends import BACKENDS

    return {Path("model" + s).suffix.lower() for spec in BACKENDS.values() for s in spec.suffixes}


@dataclass(frozen=True)
class Io:
    """What one command reads and writes, by argparse destination.

    ``inputs``: dests holding input paths (a str, a list of str, or a ``kind:PATH`` data spec);
    ``files``: dests of output files; ``folders``: dests of output folders; ``run_folder``: the dest
    of a folder of finished work (needs --resume/--force when it holds a run); ``derived``: output
    names computed from the arguments (defaults beside the input, names inside an output folder);
    ``precision``: option -> the precision (fp32/fp16/int8) of the model that option's output will
    be, for the guard (outputs not named there are not model artifacts); ``loose``: input dests the
    command validates itself (data specs, calibration lists or folders, camera sources); every other
    input is checked at the door (``edgeseg._sniff.check_input_file``); ``appends``: output files
    several runs append to under their own lock (bench results): checked, never locked here;
    ``precheck``: the command's argument checks that need no file (options a backend does not take,
    the kinds of file it takes), run first so their message wins over the file's."""

    inputs: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    run_folder: str | None = None
    derived: Derive | None = None
    precision: Callable[[argparse.Namespace], "dict[str, str]"] | None = None
    loose: tuple[str, ...] = ()
    appends: tuple[str, ...] = ()
    precheck: Callable[[argparse.Namespace], None] | None = None

    @property
    def writes(self) -> bool:
        return bool(self.files or self.folders or self.appends or self.run_folder or self.derived)


def _as_paths(value: object) -> list[Path]:
    if value is None or value is False or value is True:
        return []
    if isinstance(value, (list, tuple)):
        return [p for v in value for p in _as_paths(v)]
    text = str(value)
    if not text:
        return []
    if ":" in text and not Path(text).exists():  # a data spec (camvid:PATH) or a URL (rtsp://...)
        kind, _, rest = text.partition(":")
        if "/" in kind or kind in ("synthetic", "gst", "csi") or not rest or rest.startswith("//"):
            return []
        return [Path(rest)]
    return [Path(text)]


def _identity(p: Path) -> tuple[str, tuple[int, int] | None]:
    try:
        st = p.stat()
        ino = (st.st_dev, st.st_ino)
    except (OSError, ValueError):
        ino = None
    try:
        real = os.path.realpath(p)
    except (OSError, ValueError):
        real = str(p)
    return real, ino


def outputs_of(args: argparse.Namespace, io: Io) -> list[tuple[str, Path]]:
    """Every (option, path) the command will write: declared files and folders, derived names, run folder."""
    outs: list[tuple[str, Path]] = []
    for dest in io.files + io.folders + io.appends + ((io.run_folder,) if io.run_folder else ()):
        outs += [(_flag(args, dest), p) for p in _as_paths(getattr(args, dest, None))]
    if io.derived is not None:
        outs += io.derived(args)
    return outs


def inputs_of(args: argparse.Namespace, io: Io) -> list[tuple[str, Path]]:
    return [
        (_flag(args, dest), _shipped(p)) for dest in io.inputs for p in _as_paths(getattr(args, dest, None))
    ]


def _shipped(p: Path) -> Path:
    """A shipped model name (``cgnet_camvid``) as its file in edgeseg/weights; any other path as is."""
    if p.exists() or len(p.parts) != 1:
        return p
    from edgeseg._shipped import shipped_models

    return shipped_models().get(str(p), p)


def _flag(args: argparse.Namespace, dest: str) -> str:
    """The option a user typed for ``dest`` (``json_out`` -> ``--json``); a positional's own name."""
    return getattr(args, "_flags", {}).get(dest, dest)


def check_outputs_are_not_inputs(args: argparse.Namespace, io: Io) -> None:
    """EdgesegError when an output (declared or derived) is one of the inputs."""
    ins = [(flag, p, *_identity(p)) for flag, p in inputs_of(args, io)]
    for oflag, out in outputs_of(args, io):
        oreal, oino = _identity(out)
        for iflag, inp, ireal, iino in ins:
            if oreal == ireal or (oino is not None and oino == iino):
                raise EdgesegError(
                    f"{out}: {oflag} would replace the input {inp} ({iflag}); give another output path"
                )


def artifact_precision(path: Path) -> str | None:
    from edgeseg.commands._outputs import artifact_precision as read

    return read(path)


def check_precision_guard(args: argparse.Namespace, io: Io) -> None:
    """An existing model artifact is replaced only by one of the same precision unless --force."""
    if io.precision is None or getattr(args, "force", False):
        return
    wanted = io.precision(args)
    for flag, out in outputs_of(args, io):
        new = wanted.get(flag)
        if new is None or out.suffix.lower() not in card_suffixes() or not out.exists():
            continue
        old = artifact_precision(out)
        if old is None:
            raise EdgesegError(
                f"{out} exists and is not an edgeseg model with a card (this command would replace it "
                f"with a {new.upper()} model); give another output path, or --force to replace it"
            )
        if old != new:
            raise EdgesegError(
                f"{out} exists and is a {old.upper()} model; this command writes {new.upper()} "
                "(give another output path, or --force to replace it)"
            )


def check_run_folder(args: argparse.Namespace, io: Io) -> None:
    """A folder that already holds a run needs --resume (continue it) or --force (replace it)."""
    if io.run_folder is None:
        return
    value = getattr(args, io.run_folder, None)
    if value is None:
        return
    folder = Path(value)
    if folder.exists() and not folder.is_dir():
        raise EdgesegError(f"{folder}: {_flag(args, io.run_folder)} is a file, expected a folder for the run")
    if getattr(args, "resume", None) or getattr(args, "force", False) or not folder.is_dir():
        return
    held = [n for n in RUN_FILES if (folder / n).exists()]
    if held:
        raise EdgesegError(
            f"{folder} already holds a run ({', '.join(held)}); continue it with --resume "
            f"{folder / 'last.pt'}, give another {_flag(args, io.run_folder)}, or --force to replace it"
        )


def lock_dir() -> Path:
    """Where output locks live (``$EDGESEG_LOCK_DIR``, default a per-user folder in the temp dir):
    nothing is left beside the user's files."""
    env = os.environ.get("EDGESEG_LOCK_DIR")
    uid = os.getuid() if hasattr(os, "getuid") else 0
    d = Path(env) if env else Path(tempfile.gettempdir()) / f"edgeseg-locks-{uid}"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


@contextlib.contextmanager
def hold_locks(paths: list[tuple[str, Path]]) -> Iterator[None]:
    """Exclusive, non-blocking locks on every output path for the block; EdgesegError naming the path
    and the holder's pid when another edgeseg process writes it. Without fcntl (Windows): no locks."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    held: list[int] = []
    try:
        try:
            where = lock_dir()
        except OSError:  # no writable temp dir: the command still runs, unlocked
            where = None
        seen: set[str] = set()
        for flag, p in paths if where is not None else []:
            real, _ = _identity(p)
            if real in seen:  # one path named twice (an image given twice): one lock
                continue
            seen.add(real)
            lock = where / (hashlib.sha1(real.encode("utf-8", "surrogateescape")).hexdigest()[:20] + ".lock")
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                holder = os.read(fd, 64).decode("ascii", "replace").strip() or "?"
                os.close(fd)
                if e.errno in (errno.EAGAIN, errno.EACCES):
                    raise EdgesegError(
                        f"{p}: another edgeseg process (pid {holder}) is writing {flag} now; "
                        "wait for it, or give another output path"
                    ) from None
                raise
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            held.append(fd)
        yield
    finally:
        for fd in held:
            os.close(fd)


def check_inputs(args: argparse.Namespace, io: Io) -> None:
    """Every input file exists, is a file, is not empty and is what its suffix says; no path (input or
    output) holds bytes that are not UTF-8."""
    from edgeseg._sniff import check_input_file, check_path_text

    loose = {_flag(args, d) for d in io.loose}
    for flag, p in inputs_of(args, io):
        if (
            flag in loose
        ):  # the command validates it; only its name is checked here (OpenCV crashed on such names)
            check_path_text(p, what=f"{flag} path")
        else:
            check_input_file(p, flag=flag)
    for flag, p in outputs_of(args, io):
        check_path_text(p, what=f"{flag} path")


@contextlib.contextmanager
def apply(args: argparse.Namespace, io: Io) -> Iterator[None]:
    """All the checks, in order, then the locks for the command's run."""
    if io.precheck is not None:
        io.precheck(args)
    check_inputs(args, io)
    check_outputs_are_not_inputs(args, io)
    check_run_folder(args, io)
    check_precision_guard(args, io)
    appended = {_flag(args, d) for d in io.appends}
    with hold_locks([(f, p) for f, p in outputs_of(args, io) if f not in appended]):
        yield
