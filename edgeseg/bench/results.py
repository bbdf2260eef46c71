"""Read and append benchmark results files safely.

Writers take an exclusive lock on ``<file>.lock`` (``fcntl.flock``; ``msvcrt`` on Windows) around
read-modify-write, then replace the file atomically, so two runs appending to the same file at
once both land and a reader never sees half a file. A file that exists but is not a valid
results document is never overwritten: history is not replaced silently.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator

from edgeseg._io import atomic_write_text, check_output_path
from edgeseg.bench.schema import SCHEMA, empty_results, json_safe, validate_results
from edgeseg.errors import EdgesegError


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """Exclusive advisory lock on ``<path>.lock`` for the duration of the block (blocks until free)."""
    lock = Path(str(path) + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
            try:
                yield
            finally:
                os.lseek(fd, 0, os.SEEK_SET)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def load_results(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a results file; a clear error when it is missing, not JSON or not ours."""
    p = Path(path)
    if not p.is_file():
        raise EdgesegError(f"{p}: results file not found")
    try:
        obj = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EdgesegError(f"{p}: not valid JSON ({e}); expected an {SCHEMA} results file") from e
    return validate_results(obj, where=str(p))


def _write(path: Path, obj: dict[str, Any]) -> None:
    text = json.dumps(json_safe(obj), indent=1, allow_nan=False) + "\n"
    atomic_write_text(path, text)


def upsert_run(path: str | os.PathLike, run: dict[str, Any], *, replace: bool = True) -> Path:
    """Append ``run`` to the results file (created when absent), or replace the run with the same id.

    Replacing is only ever done for the caller's own run (progress saved row by row, ``replace``
    True); every other run in the file is kept as it was. With ``replace=False`` an id already in
    the file is an error. Raises EdgesegError when the existing file is not a valid results
    document (it is left untouched).
    """
    p = check_output_path(path)
    with file_lock(p):
        doc = load_results(p) if p.exists() else empty_results()
        runs = doc["runs"]
        for i, old in enumerate(runs):
            if old.get("id") == run["id"]:
                if not replace:
                    raise EdgesegError(
                        f"{p}: a run with id {run['id']!r} is already recorded; not overwriting it"
                    )
                runs[i] = run
                break
        else:
            runs.append(run)
        _write(p, doc)
    return p


def append_run(path: str | os.PathLike, run: dict[str, Any]) -> Path:
    """Append a run whose id is not in the file yet (an id already there is an error)."""
    return upsert_run(path, run, replace=False)


def iter_rows(
    doc: dict[str, Any], *, runs: str = "latest"
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(run, row) pairs of a results document; ``runs`` = "latest" (default: the newest *finished* run,
    so an interrupted run does not hide the complete one before it; the newest run when none
    finished) or "all"."""
    if runs not in ("latest", "all"):
        raise ValueError("runs must be 'latest' or 'all'")
    finished = [r for r in doc["runs"] if r.get("finished")]
    chosen = (finished or doc["runs"])[-1:] if runs == "latest" else doc["runs"]
    for run in chosen:
        for row in run["rows"]:
            yield run, row
