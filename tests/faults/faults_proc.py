"""Child-process helpers for the fault tables: a CLI child without the power to ignore file
permissions, a CLI child armed with a hook (hooks/sitecustomize.py) that stops at a chosen moment,
and a tmpfs of a few hundred KiB for real "no space left on device" errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from faults_table import hooked_env

CAP_SETPCAP = 8
#: CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER: what lets root ignore a folder's mode bits.
DAC_CAPS = (1, 2, 3)
PR_CAPBSET_DROP = 24


def _has_cap(cap: int) -> bool:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> cap & 1)
    return False


def _drop_dac_caps() -> None:  # runs in the child between fork and exec
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in DAC_CAPS:
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            os._exit(126)


def unprivileged():
    """A ``preexec_fn`` that makes a CLI child obey file permissions, or None when it already does.

    As root, the child keeps uid 0 (so it can still run this venv's interpreter, which may live
    under a 0700 /root where 'nobody' cannot reach it) but loses CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH and CAP_FOWNER from its bounding set: after exec the kernel applies mode bits
    to it as to any user that owns the files. Skips when root cannot drop them (no CAP_SETPCAP).
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    if not sys.platform.startswith("linux") or not _has_cap(CAP_SETPCAP):
        pytest.skip("running as root without CAP_SETPCAP: cannot start a child that obeys folder permissions")
    return _drop_dac_caps


def start_hooked(argv: list[str], fault: dict, *, cwd: Path) -> subprocess.Popen:
    """``python -m edgeseg ARGV`` with the fault hook armed (output captured)."""
    return subprocess.Popen(
        [sys.executable, "-m", "edgeseg", *argv],
        cwd=cwd,
        env=hooked_env(fault),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(marker: Path, proc: subprocess.Popen, *, timeout: float = 90.0) -> None:
    """Wait until the hooked child creates ``marker``; fail with its output if it ends first."""
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"child exited {proc.returncode} before reaching the fault point:\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            pytest.fail(f"child did not reach the fault point within {timeout:g} s")
        time.sleep(0.02)


def finish(proc: subprocess.Popen, timeout: float = 90.0) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def kill_at(marker: Path, proc: subprocess.Popen, sig: int = signal.SIGKILL) -> tuple[int, str, str]:
    """Send ``sig`` once the child is paused at ``marker``, then collect it."""
    wait_for(marker, proc)
    os.kill(proc.pid, sig)
    return finish(proc)


@contextmanager
def tmpfs(path: Path, size_kib: int):
    """Mount a ``size_kib`` KiB tmpfs at ``path`` (skip where mounting is not allowed); unmount after."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        p = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"cannot mount a tmpfs here: {e}")
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (not root or no CAP_SYS_ADMIN): {p.stderr.strip()[:200]}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True, timeout=30)
