"""A row's ``make`` steps (``edgeseg export/quantize/build ...`` in a subprocess): run when its
artifact is missing, older than a file the steps name, or on ``--rebuild``; a failure becomes the
row's state."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from edgeseg.bench.isolate import _last_error_line, _worker_env
from edgeseg.bench.matrix import RowSpec
from edgeseg.bench.schema import make_state

#: The first word of a ``make`` step -> the state its failure gives the row.
MAKE_FAILURE = {"export": "export failed"}


def _inputs_newer(row: RowSpec, base: Path) -> list[str]:
    """Files named in the row's make steps (checkpoints, ONNX, calibration lists) newer than its artifact."""
    art = Path(row.artifact)
    t = art.stat().st_mtime
    newer = []
    for step in row.make:
        for a in step[1:]:
            p = Path(a) if os.path.isabs(a) else base / a
            if p.is_file() and p.resolve() != art.resolve() and p.stat().st_mtime > t:
                newer.append(a)
    return newer


def run_make_steps(
    row: RowSpec, base: Path, *, rebuild: bool, log: Callable[[str], None]
) -> tuple[str | None, float | None, str]:
    """Run the row's ``make`` steps when its artifact is missing, older than a file its steps name
    (make's rule: a retrained checkpoint is re-exported), or ``rebuild``.

    Returns (failure state or None, seconds spent building or None, log tail)."""
    if not row.make:
        return None, None, ""
    if Path(row.artifact).exists() and not rebuild:
        newer = _inputs_newer(row, base)
        if not newer:
            return None, None, ""
        log(f"  {row.artifact} is older than {', '.join(newer)}: rebuilding")
    Path(row.artifact).parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for step in row.make:
        args = [a.replace("{artifact}", os.path.abspath(row.artifact)) for a in step]
        log(f"  make: edgeseg {' '.join(args)}")
        try:
            p = subprocess.run(
                [sys.executable, "-m", "edgeseg", *args],
                cwd=base,
                env=_worker_env(row.threads),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=row.timeout,
            )
            out, rc = (p.stdout or "") + (p.stderr or ""), p.returncode
        except subprocess.TimeoutExpired:
            out, rc = f"timeout after {row.timeout:g} s", None
        if rc != 0:
            kind = MAKE_FAILURE.get(step[0] if step else "", "build failed")
            tail = "\n".join(out.strip().splitlines()[-12:])
            last = _last_error_line(tail) or f"exit code {rc}"
            return (
                make_state(kind, last if last.startswith("edgeseg ") else f"edgeseg {step[0]}: {last}"),
                None,
                tail,
            )
    if not Path(row.artifact).exists():
        return make_state("build failed", f"the make steps did not produce {row.artifact}"), None, ""
    return None, time.perf_counter() - t0, ""
