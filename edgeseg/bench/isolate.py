"""One isolated benchmark worker: ``python -m edgeseg.bench._worker`` run on a spec with a timeout,
its phases reported as it goes, and a one-line reason when it dies (signal, timeout, exit code with
the last error line) instead of an exception."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

PLACEHOLDER = "worker stopped before finishing"


@dataclass
class WorkerResult:
    result: dict[str, Any]
    returncode: int | None
    reason: str | None  # set when the worker died without writing a final state
    log_tail: str
    seconds: float


def _worker_env(threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    pkg_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    if threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(threads)
    return env


def _signal_reason(rc: int) -> str:
    try:
        name = signal.Signals(-rc).name
    except ValueError:
        name = f"signal {-rc}"
    hint = " (out of memory?)" if name == "SIGKILL" else ""
    return f"worker killed by {name}{hint}"


def _tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _last_error_line(log: str) -> str:
    for line in reversed(log.splitlines()):
        line = line.strip()
        if line and not line.startswith(("File ", "^", "~")):
            return line[:200]
    return ""


def _phase(path: Path) -> str | None:
    try:
        return json.loads(path.read_text()).get("phase")
    except (OSError, ValueError):
        return None


def run_worker(
    spec: dict[str, Any],
    *,
    timeout: float,
    threads: int | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> WorkerResult:
    """Run one worker process on ``spec``; never raises for worker failures.

    ``on_phase`` is called with each new phase the worker reports (open, latency batch N, accuracy, facts)."""
    with tempfile.TemporaryDirectory(prefix="edgeseg-bench-") as td:
        spec_path, out_path, log_path = Path(td, "spec.json"), Path(td, "out.json"), Path(td, "worker.log")
        spec_path.write_text(json.dumps(spec))
        t0 = time.perf_counter()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "edgeseg.bench._worker", str(spec_path), str(out_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_worker_env(threads),
                start_new_session=(os.name == "posix"),
            )
            reason = None
            deadline = time.monotonic() + timeout
            seen = None
            try:
                while True:
                    try:
                        rc: int | None = proc.wait(timeout=max(0.0, min(2.0, deadline - time.monotonic())))
                        break
                    except subprocess.TimeoutExpired:
                        if time.monotonic() >= deadline:
                            raise
                        ph = _phase(out_path) if on_phase else None
                        if ph and ph != seen:
                            seen = ph
                            on_phase(ph)
            except subprocess.TimeoutExpired:
                if os.name == "posix":
                    os.killpg(proc.pid, signal.SIGKILL)
                else:  # pragma: no cover
                    proc.kill()
                proc.wait()
                rc, reason = None, f"timeout after {timeout:g} s"
            except BaseException:
                proc.kill()
                proc.wait()
                raise
        seconds = time.perf_counter() - t0
        try:
            result = json.loads(out_path.read_text())
        except (OSError, ValueError):
            result = {}
        log_tail = _tail(log_path)
    final = result.get("state")
    if reason is None and (not final or PLACEHOLDER in final):
        if rc is not None and rc < 0:
            reason = _signal_reason(rc)
        else:
            last = _last_error_line(log_tail)
            reason = f"worker exited with code {rc}" + (f": {last}" if last else "")
    return WorkerResult(result, rc, reason, log_tail, seconds)
