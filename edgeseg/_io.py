"""Atomic file output and hashing. Every artifact edgeseg writes goes through here.

A write goes to a temp file in the destination folder, is flushed and fsynced, then
``os.replace``-d over the target, so a kill or a full disk never leaves a half-written file
and an earlier good file survives until the new one is complete.

A full disk, a quota, a file-size limit, a read-only file system or an I/O error while writing
is one EdgesegError naming the file the user asked for; the temp file is removed. A SIGKILL (or
a power cut) cannot run any clean-up: it leaves the temp beside the target, hidden and named after
it (``.NAME.XXXXXXXX.tmp``, or a ``.NAME.XXXXXXXX`` folder for ``atomic_path``). Nothing reads
those; they are not removed automatically (a listing of the folder on every write would make
writing thousands of masks quadratic, and a live writer's temp cannot be told from a dead one's),
so delete them when no edgeseg process is writing there.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

from edgeseg.errors import EdgesegError


def ensure_writable_dir(path: str | os.PathLike, *, create: bool = False) -> Path:
    """Check that ``path`` is an existing writable folder (created when ``create``), before long work."""
    p = Path(path)
    if not p.exists():
        if create:
            try:
                p.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise EdgesegError(f"cannot create output folder {p}: {e.strerror}") from e
        else:
            raise EdgesegError(f"output folder {p} does not exist (expected an existing, writable folder)")
    if not p.is_dir():
        raise EdgesegError(f"output path {p} is not a folder")
    if not os.access(p, os.W_OK | os.X_OK):
        raise EdgesegError(f"output folder {p} is not writable")
    return p


def check_output_path(path: str | os.PathLike, *, folder_ok: bool = False) -> Path:
    """Check that ``path`` can be written (its folder exists and is writable); return it as a Path.
    An existing folder at ``path`` is refused unless ``folder_ok`` (folder artifacts like .mlpackage)."""
    p = Path(path)
    ensure_writable_dir(p.parent if str(p.parent) else Path("."))
    if p.exists() and p.is_dir() and not folder_ok:
        raise EdgesegError(f"output path {p} is a folder, expected a file path")
    return p


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temp file beside ``path``; on success fsync and rename it over ``path``."""
    target = check_output_path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as e:  # no inode left, read-only file system
        _raise_write_error(e, target)
        raise
    os.chmod(tmp, _umask_mode())  # mkstemp creates 0600; outputs get normal permissions
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as e:
        _unlink_quiet(tmp)
        _raise_write_error(e, target)
        raise
    except BaseException:
        _unlink_quiet(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path`` for libraries that write by file name; rename on success.

    Works for files and for folders (e.g. a Core ML ``.mlpackage``): an existing target folder
    is replaced only after the new one is complete.
    """
    target = check_output_path(path, folder_ok=True)
    try:
        tmpdir = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as e:
        _raise_write_error(e, target)
        raise
    tmp = tmpdir / target.name
    try:
        yield tmp
        if not tmp.exists():
            raise EdgesegError(f"nothing was written to {target}")
        if tmp.is_file():
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.chmod(tmp, _umask_mode())
        if target.is_dir() and not target.is_symlink():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except OSError as e:
        _raise_write_error(e, target)
        raise
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


@contextlib.contextmanager
def atomic_set(folder: str | os.PathLike) -> Iterator[Path]:
    """Commit several files into ``folder`` as a set: the block writes them into a staging folder
    beside it; only when the block ends without error are they moved in (renames, which need no
    space), the folder created if absent. On any failure nothing is moved and the folder, new or
    old, is as it was."""
    target = Path(folder)
    if target.exists() and not target.is_dir():
        raise EdgesegError(f"output path {target} is not a folder")
    base = target.absolute().parent
    while not base.exists():  # stage in the nearest existing folder: same file system, no folder made yet
        base = base.parent
    ensure_writable_dir(base)
    try:
        stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=base))
    except OSError as e:
        _raise_write_error(e, target)
        raise
    try:
        yield stage
        files = sorted(q for q in stage.rglob("*") if q.is_file())
        for q in files:
            with open(q, "rb+") as f:
                os.fsync(f.fileno())
        target.mkdir(parents=True, exist_ok=True)
        for q in files:
            dst = target / q.relative_to(stage)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(q, dst)
    except OSError as e:
        _raise_write_error(e, target)
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_write(path, "wb") as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_write(path, "w") as f:
        f.write(text)
    return Path(path)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def sha256_file(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file (a folder: of its files' relative names and contents, in order)."""
    p = Path(path)
    h = hashlib.sha256()
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    for q in files:
        if p.is_dir():
            h.update(str(q.relative_to(p)).encode())
        with open(q, "rb") as f:
            while block := f.read(chunk):
                h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: errno values that mean "this file could not be written", whoever raised them.
WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}


def _shown(p: Path) -> Path:
    """The path the user asked for: a file inside an atomic_path temp folder (``.NAME.XXXX/NAME``)
    is shown as NAME beside that folder."""
    return p.parent.parent / p.name if p.parent.name.startswith(f".{p.name}.") else p


def _raise_write_error(e: OSError, target: Path) -> None:
    """Re-raise a write failure (WRITE_ERRORS) as one EdgesegError naming the target; else return."""
    if e.errno not in WRITE_ERRORS:
        return
    shown = _shown(target)
    if e.errno == errno.ENOSPC:
        raise EdgesegError(f"no space left on device while writing {shown}; nothing was written") from e
    raise EdgesegError(
        f"could not write {shown}: {e.strerror or errno.errorcode.get(e.errno)}; nothing was written"
    ) from e


def _umask_mode(base: int = 0o666) -> int:
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


def _unlink_quiet(p: str | os.PathLike) -> None:
    with contextlib.suppress(OSError):
        os.unlink(p)


def human_size(n: int) -> str:
    """Bytes in MiB, the one size unit edgeseg prints ("0.47 MiB", "12.3 MiB")."""
    mib = n / 2**20
    return f"{mib:.2f} MiB" if mib < 10 else f"{mib:.1f} MiB"
