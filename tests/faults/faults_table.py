"""The fault-table machinery shared by every tests/faults/test_faults*.py table: the ``Row`` of the
refusal tables, its runner (``run_row``), and ``params`` (pytest params marked ``fault_row``, which
conftest.py counts for the ``faults: N planted, N survived`` summary line).

A refusal row plants one fault, runs the real CLI (in-process ``edgeseg.cli.main``, or ``python -m
edgeseg`` in a child) and checks: the exit code, a last stderr line ``edgeseg CMD: error: ...``
matching the row's regex, no traceback, the paths that must not exist, the folders that must hold
no file, the files and folders whose bytes must not change, and no stray ``.onnx/.pt/.tmp/.part``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
HOOKS = Path(__file__).resolve().parent / "hooks"


@dataclass(frozen=True)
class Row:
    id: str
    plant: Callable  # (tmp_path, artifacts, plant_module) -> argv (without "edgeseg")
    stderr: str  # regex searched in the last stderr line
    issue_rows: tuple[int, ...] = ()  # the rows of issue 8 this row covers
    code: int = 2
    absent: tuple[str, ...] = ()  # paths (relative to the work folder) that must not exist afterwards
    empty: tuple[
        str, ...
    ] = ()  # folders that may be created (checked writable up front) but must hold no file
    unchanged: tuple[str, ...] = ()  # files or folders (every file in them) whose bytes must not change
    subprocess: bool = False  # run `python -m edgeseg` in a child process instead of cli.main
    unprivileged: bool = False  # child without the power to ignore file permissions (see faults_proc)
    marks: tuple = ()  # pytest marks (skipif)
    patch: Callable | None = None  # (monkeypatch) -> None, for faults that cannot be planted on disk
    check: Callable | None = None  # (work) -> None, extra on-disk checks after the common ones


def params(rows, *, kind: str = "refusal") -> list:
    """``pytest.param`` per row, id = row id, marked ``fault_row`` (counted in the summary line)."""
    ids = [r.id for r in rows]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    assert not dup, f"duplicate row ids: {dup}"
    return [
        pytest.param(r, id=r.id, marks=(*getattr(r, "marks", ()), pytest.mark.fault_row(kind))) for r in rows
    ]


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI child: this checkout first on PYTHONPATH, one thread per library."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("EDGESEG_FAULT", None)
    env.update(extra)
    return env


def hooked_env(fault: dict) -> dict[str, str]:
    """A child environment with the test-only fault hook (hooks/sitecustomize.py) armed with ``fault``."""
    import json

    env = child_env(EDGESEG_FAULT=json.dumps(fault))
    env["PYTHONPATH"] = os.pathsep.join([str(HOOKS), str(REPO)])
    return env


def run_cli(
    argv: list[str], *, child: bool, capsys, preexec_fn=None, env=None, timeout: float = 120
) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``edgeseg ARGV``, in a child or in this process."""
    if child:
        p = subprocess.run(
            [sys.executable, "-m", "edgeseg", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env or child_env(),
            preexec_fn=preexec_fn,
        )
        return p.returncode, p.stdout, p.stderr
    from edgeseg.cli import main

    try:
        code = main(argv)
    except SystemExit as e:  # argparse errors
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def snapshot(work: Path, paths) -> dict[str, bytes]:
    """Bytes of each file named in ``paths``, and of every file under each folder named there."""
    snap: dict[str, bytes] = {}
    for rel in paths:
        p = work / rel
        files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else ([p] if p.is_file() else [])
        for q in files:
            snap[str(q.relative_to(work))] = q.read_bytes()
    return snap


def check_error_line(err: str, command: str, regex: str, *, code: int) -> str:
    """The last stderr line is ``edgeseg COMMAND: error: ...`` (``interrupted`` for 130) matching
    ``regex``."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert lines, "no error message at all"
    head = f"edgeseg {command}: interrupted" if code == 130 else f"edgeseg {command}: error:"
    assert lines[-1].startswith(head), err
    assert re.search(regex, lines[-1]), f"{regex!r} not in the error line:\n{lines[-1]}"
    return lines[-1]


def copy_file(src: Path, dst: Path) -> Path:
    """Copy ``src`` to ``dst`` (bytes only); returns ``dst``."""
    dst.write_bytes(Path(src).read_bytes())
    return dst


def truncated_copy(src: Path, dst: Path) -> Path:
    """Write the first half of ``src``'s bytes to ``dst`` (a file cut off mid-write); returns ``dst``."""
    data = Path(src).read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def work_dir(tmp_path: Path, monkeypatch) -> Path:
    """``tmp_path/work``, made the cwd: anything a command writes by default (or a shell would
    create) lands there, where the row's checks look."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def run_row(row: Row, work: Path, artifacts, plant, capsys, monkeypatch) -> None:
    """Plant ``row``'s fault in ``work`` (the cwd), run the CLI, and make every check of the row."""
    argv = [str(x) for x in row.plant(work, artifacts, plant)]
    before = snapshot(work, row.unchanged)
    assert before or not row.unchanged, f"nothing planted at {row.unchanged}"
    listing = sorted(p.name for p in work.iterdir())
    if row.patch is not None:
        row.patch(monkeypatch)
    capsys.readouterr()
    preexec = None
    if row.unprivileged:
        from faults_proc import unprivileged

        preexec = unprivileged()
    try:
        code, _, err = run_cli(
            argv, child=row.subprocess or row.unprivileged, capsys=capsys, preexec_fn=preexec
        )
    finally:
        for p in work.rglob("*"):  # undo read-only planting so tmp_path can be cleaned
            if p.is_dir():
                os.chmod(p, 0o755)
    assert code == row.code, f"exit {code}, stderr:\n{err}"
    print(check_error_line(err, argv[0], row.stderr, code=row.code))
    for p in row.absent:
        assert not (work / p).exists(), f"{p} was written"
    for p in row.empty:
        assert not [f for f in (work / p).rglob("*") if f.is_file()], f"{p} holds files"
    assert snapshot(work, row.unchanged) == before, f"{row.unchanged}: files changed, appeared or vanished"
    stray = sorted(p.name for p in work.iterdir() if p.name not in listing and not p.name.startswith("."))
    assert not [s for s in stray if s.endswith((".onnx", ".pt", ".tmp", ".part"))], f"stray outputs: {stray}"
    if row.check is not None:
        row.check(work)
