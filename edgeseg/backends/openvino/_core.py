"""One ``openvino.Core`` per process, never destroyed before exit.

Why not a fresh ``Core()`` per build or runner: OpenVINO's CPU plugin gives the thread that runs it
an alternate signal stack (``sigaltstack``) and, when the plugin is torn down with its last Core,
restores the previous one on *whatever thread drops that last reference*. Python's garbage collector
or a camera/bench worker thread often is that thread, so the first thread is left with an alternate
stack pointing at unmapped memory. CPython installs every Python signal handler with ``SA_ONSTACK``,
so the next SIGTERM/SIGINT delivered there makes the kernel kill the process with SIGSEGV instead of
running the handler (``tests/backends/openvino/test_core.py`` reproduces it in a child process).
Keeping one Core alive for the life of the process keeps the plugin loaded, so that teardown
happens only at exit, on the main thread. OpenVINO's own guidance is one Core per application too.
"""

from __future__ import annotations

import threading
from typing import Any

_LOCK = threading.Lock()
_CORE: Any = None


def shared_core() -> Any:
    """The process-wide ``openvino.Core`` (created on first use; MissingDependencyError without OpenVINO)."""
    global _CORE
    if _CORE is None:
        ov = import_openvino()
        with _LOCK:
            if _CORE is None:
                _CORE = ov.Core()
    return _CORE


def import_openvino() -> Any:
    """The ``openvino`` module, or MissingDependencyError saying how to install it (from its spec)."""
    from edgeseg.backends.openvino import SPEC

    return SPEC.require()
