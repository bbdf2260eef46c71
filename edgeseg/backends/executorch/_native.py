"""ExecuTorch's native libraries, imported and loaded without their start-up notices.

Importing the exporter pulls in torchao, whose optional CUDA kernels print "Failed to load ..." on
a CPU machine, and the runtime's cpuinfo prints what it reads from /sys on the first load. Those
lines are written by native code to file descriptor 2, so ``quiet()`` redirects the descriptor for
the block and passes on every other line afterwards.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import warnings
from typing import Any, Iterator

from edgeseg.errors import MissingDependencyError

#: Lines dropped from the native stderr (everything else is passed on).
NOISE = re.compile(
    r"cpuinfo_utils\.cpp|Failed to load .*torchao|Could not load this library: .*torchao|KernelPreference"
    r"|register_constant\(\) on Enum subclasses|threadpool\.cpp:\d+\] Resetting threadpool"
)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Run the block with file descriptor 2 captured; afterwards re-emit the lines that are not ``NOISE``."""
    fd = 2  # native code writes to descriptor 2 whatever sys.stderr is
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporters' deprecation notices are not the user's to act on
        os.dup2(tmp.fileno(), fd)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            kept = [ln for ln in tmp.read().decode("utf-8", "replace").splitlines() if ln.strip() and not NOISE.search(ln)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def runtime() -> Any:
    """ExecuTorch's ``Runtime`` singleton; MissingDependencyError when executorch is not installed."""
    try:
        with quiet():
            from executorch.runtime import Runtime

            return Runtime.get()
    except ImportError as e:
        raise MissingDependencyError("executorch", "executorch") from e


def threadpool() -> Any:
    """The runtime's thread-pool controls (``_unsafe_reset_threadpool``, ``_threadpool_get_thread_count``)."""
    with quiet():
        from executorch.extension.pybindings import portable_lib

    return portable_lib
