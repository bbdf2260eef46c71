"""One Runner contract for torch / onnxruntime / tensorrt / coreml; see ``base``."""

from edgeseg.runtime.base import Runner, open_runner, RUNNERS

__all__ = ["Runner", "open_runner", "RUNNERS"]
