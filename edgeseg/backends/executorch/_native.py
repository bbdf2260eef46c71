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
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from edgeseg.card import ModelCard
from edgeseg.errors import EdgesegError, ExportError, MissingDependencyError

#: The program method that returns the model card's JSON as a uint8 tensor.
CARD_METHOD = "edgeseg_card"

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
            kept = [
                ln
                for ln in tmp.read().decode("utf-8", "replace").splitlines()
                if ln.strip() and not NOISE.search(ln)
            ]
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


def load_program(path: Path) -> Any:
    """The ``.pte`` program loaded by the runtime; EdgesegError/ExportError saying why it cannot be."""
    if not path.is_file():
        raise EdgesegError(f"{path}: ExecuTorch program not found")
    rt = runtime()
    try:
        with quiet():
            return rt.load_program(path)
    except Exception as e:  # noqa: BLE001 - the runtime raises RuntimeError / its own types
        raise ExportError(
            f"{path}: not a loadable ExecuTorch program (truncated or corrupt?): "
            f"{str(e).splitlines()[0][:200] if str(e) else type(e).__name__}"
        ) from e


def program_card(program: Any, path: Path) -> ModelCard:
    """The model card a loaded edgeseg program returns from its card method."""
    if CARD_METHOD not in program.method_names:
        raise ExportError(
            f"{path}: not built by edgeseg; the program has no {CARD_METHOD!r} method with the model card "
            "(class names, palette and preprocessing are unknown). Build it with `edgeseg build "
            "CHECKPOINT.pt --backend executorch`"
        )
    with quiet():
        data = program.load_method(CARD_METHOD).execute([])[0]
    return ModelCard.from_json(
        bytes(data.numpy().astype(np.uint8).tobytes()).decode("utf-8"), where=str(path)
    )


def read_program_card(path: Path) -> ModelCard:
    """The model card stored in an edgeseg ``.pte`` (runs only the card method)."""
    return program_card(load_program(Path(path)), Path(path))
