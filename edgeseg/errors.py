"""Errors edgeseg raises on purpose. The CLI prints them as one line, without a traceback."""

from __future__ import annotations


class EdgesegError(Exception):
    """A user-facing error: the message says what was expected and what was found."""

    exit_code = 2


class DataError(EdgesegError):
    """A dataset, image or label file is missing, unreadable or inconsistent."""


class CheckpointError(EdgesegError):
    """A checkpoint is missing, corrupt, not ours, or of another architecture."""


class ExportError(EdgesegError):
    """ONNX export or an export check (checker, shape inference, parity) failed."""


class QuantizationError(EdgesegError):
    """Calibration, QAT or a Q/DQ rule check failed."""


class BuildError(EdgesegError):
    """An engine/package build failed or was refused (stale cache, wrong GPU, ...)."""


class UnsupportedOptionError(EdgesegError):
    """An option was given to a backend that does not support it."""


class MissingDependencyError(EdgesegError):
    """An optional package is not installed. edgeseg never installs packages at run time.

    ``package``: the pip distribution name (e.g. "openvino"); ``extra``: the edgeseg extra that
    installs it; ``hint``: anything else the user needs (where to get it on a Jetson)."""

    def __init__(self, package: str, extra: str | None = None, hint: str | None = None):
        import re

        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", package):
            raise ValueError(f"MissingDependencyError takes a package name, found {package!r}")
        self.package = package
        self.extra = extra
        msg = f"{package} is not installed"
        if extra:
            msg += f"; install it with: pip install 'edgeseg[{extra}]'"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)
