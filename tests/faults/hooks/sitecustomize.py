"""TEST-ONLY fault hook for the child processes of tests/faults. It does nothing unless the
environment variable EDGESEG_FAULT holds a JSON fault, and only the fault tables put this folder on
PYTHONPATH. It never replaces edgeseg code: it slows down or breaks what edgeseg calls, so the real
code (atomic writes, the training loop, the bench harness) meets a real kill or a real error.

Faults (``{"kind": ..., ...}``):

- ``pause-write`` ``{"target": NAME, "marker": PATH}``: the first ``edgeseg._io.atomic_write`` to a
  file named NAME writes half of its first chunk into the temp file, fsyncs it, creates MARKER and
  sleeps (the parent then sends SIGKILL).
- ``enospc-write`` ``{"target": NAME}``: that write fails with ENOSPC once half of the chunk is on disk.
- ``pause-step`` ``{"step": N, "marker": PATH}``: training step N (1-based, counted in this process)
  creates MARKER and waits until the parent deletes it (the parent sends SIGINT meanwhile).
- ``crash-worker`` ``{"artifacts": {NAME: SIG, ...}}``: a bench worker whose row artifact is named
  NAME dies by signal SIG at its first inference, once the runner is open (SIGKILL is what the
  kernel's OOM killer sends).
"""

from __future__ import annotations

import json
import os

_FAULT = json.loads(os.environ["EDGESEG_FAULT"]) if os.environ.get("EDGESEG_FAULT") else None


def _touch(path: str) -> None:
    with open(path, "w") as f:
        f.write(str(os.getpid()))


class _BreakingFile:
    """Wraps the temp file atomic_write yields; its first write stops halfway (pause or ENOSPC)."""

    def __init__(self, f, fault: dict) -> None:
        self._f, self._fault = f, fault

    def __getattr__(self, name):
        return getattr(self._f, name)

    def write(self, data):
        import errno
        import time

        half = data[: max(1, len(data) // 2)]
        self._f.write(half)
        self._f.flush()
        os.fsync(self._f.fileno())
        if self._fault["kind"] == "enospc-write":
            raise OSError(errno.ENOSPC, "No space left on device (injected by tests/faults/hooks)")
        _touch(self._fault["marker"])
        while True:  # until SIGKILL
            time.sleep(1)


def _hook_writes(fault: dict) -> None:
    import contextlib
    from pathlib import Path

    import edgeseg._io as io

    real = io.atomic_write
    fired = []

    @contextlib.contextmanager
    def atomic_write(path, mode="wb"):
        with real(path, mode) as f:
            if Path(path).name == fault["target"] and not fired:
                fired.append(path)
                yield _BreakingFile(f, fault)
            else:
                yield f

    io.atomic_write = atomic_write


def _hook_steps(fault: dict) -> None:
    import time

    import edgeseg.train.loop as loop

    real = loop.weighted_ce
    calls = [0]

    def weighted_ce(*args, **kwargs):
        calls[0] += 1
        if calls[0] == fault["step"]:
            _touch(fault["marker"])
            deadline = time.monotonic() + 60
            while os.path.exists(fault["marker"]) and time.monotonic() < deadline:
                time.sleep(0.02)
        return real(*args, **kwargs)

    loop.weighted_ce = weighted_ce


def _crash_worker(fault: dict) -> None:
    import signal
    import sys

    # `python -m edgeseg.bench._worker SPEC OUT`: sys.argv is ['-m', SPEC, OUT] while site runs
    if len(sys.argv) < 2 or not sys.argv[1].endswith("spec.json"):
        return
    try:
        with open(sys.argv[1]) as f:
            spec = json.load(f)
    except (OSError, ValueError):
        return
    sig = fault["artifacts"].get(os.path.basename((spec.get("row") or {}).get("artifact") or ""))
    if sig is None:
        return
    import edgeseg.backends as base

    real = base.open_runner

    def open_runner(*args, **kwargs):
        runner = real(*args, **kwargs)
        real_infer = runner.infer

        def infer(*a, **k):
            os.kill(os.getpid(), getattr(signal, sig))
            return real_infer(*a, **k)

        runner.infer = infer
        return runner

    base.open_runner = open_runner


if _FAULT:
    kind = _FAULT["kind"]
    if kind in ("pause-write", "enospc-write"):
        _hook_writes(_FAULT)
    elif kind == "pause-step":
        _hook_steps(_FAULT)
    elif kind == "crash-worker":
        _crash_worker(_FAULT)
    else:
        raise SystemExit(f"tests/faults/hooks: unknown fault kind {kind!r}")
