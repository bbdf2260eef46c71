"""SIGTERM to an edgeseg command unwinds like Ctrl-C (so bench kills its row worker instead of orphaning
it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from edgeseg.cli import sigterm_as_interrupt


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_sigterm_raises_keyboardinterrupt_inside_and_is_restored_after():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler interrupts this
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_a_terminated_bench_leaves_no_worker_behind(tmp_path):
    """A parent blocked in run_worker, sent SIGTERM, kills its worker (in its own session) before exiting."""
    marker = tmp_path / "worker.pid"
    script = textwrap.dedent(f"""
        import sys, subprocess
        from edgeseg.cli import sigterm_as_interrupt
        child = "import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
        proc = subprocess.Popen([sys.executable, "-c", child], start_new_session=True)
        try:
            with sigterm_as_interrupt():
                proc.wait()
        except BaseException:
            proc.kill(); proc.wait(); raise
    """)
    parent = subprocess.Popen([sys.executable, "-c", script])
    for _ in range(200):
        if marker.exists() and marker.read_text():
            break
        time.sleep(0.05)
    child = int(marker.read_text())
    parent.send_signal(signal.SIGTERM)
    parent.wait(timeout=30)
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)
