"""The Runner contract and ``open_runner``, which picks a runner by the artifact's file type.

A runner is a context manager that turns an NCHW float32 batch (already preprocessed with
``edgeseg.data.preprocess.preprocess`` from ``runner.card``) into NCHW float32 logits on the host.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from edgeseg.card import ModelCard
from edgeseg.errors import EdgesegError


@runtime_checkable
class Runner(Protocol):
    """What every backend provides.

    - ``card``: the model card the input must be preprocessed with.
    - ``backend``: "torch", "onnxruntime", "tensorrt", "coreml" or "openvino".
    - ``precision``: "fp32", "fp16" or "int8".
    - ``input_size``: (H, W) the artifact accepts, or None when any size works.
    - ``infer(batch)``: NCHW float32 -> NCHW float32 logits (host numpy arrays).
    """

    card: ModelCard
    backend: str
    precision: str

    @property
    def input_size(self) -> tuple[int, int] | None: ...

    def infer(self, batch: np.ndarray) -> np.ndarray: ...

    def __enter__(self) -> "Runner": ...

    def __exit__(self, *exc: Any) -> None: ...


#: Suffix -> "module:Class". Explicit, greppable; no registration by import side effects.
RUNNERS: dict[str, str] = {
    ".pt": "edgeseg.runtime.torch_runner:TorchRunner",
    ".onnx": "edgeseg.runtime.ort_runner:OrtRunner",
    ".engine": "edgeseg.runtime.trt_runner:TensorRTRunner",
    ".plan": "edgeseg.runtime.trt_runner:TensorRTRunner",
    ".mlpackage": "edgeseg.runtime.coreml_runner:CoreMLRunner",
    ".xml": "edgeseg.runtime.openvino_runner:OpenVinoRunner",
}


def check_input_size(x: np.ndarray, size: tuple[int, int] | None, *, where: str, name: str) -> None:
    """EdgesegError when a fixed-size artifact (``size`` (H, W); None = any size) gets another size."""
    if size is not None and tuple(x.shape[2:]) != tuple(size):
        raise EdgesegError(
            f"{where}: {name} takes {size[0]}x{size[1]} input, found {x.shape[2]}x{x.shape[3]} "
            "(segment() resizes frames to runner.input_size; or export with --dynamic)"
        )


def run_in_chunks(x: np.ndarray, static_batch: int | None, run: Any) -> np.ndarray:
    """``run(x)`` for a graph with a fixed batch: chunks of ``static_batch`` frames, the last one
    zero-padded and its padding dropped from the output. ``static_batch`` None: one call."""
    b = static_batch
    if b is None or x.shape[0] == b:
        return run(x)
    outs = []
    for i in range(0, x.shape[0], b):
        chunk = x[i : i + b]
        n = chunk.shape[0]
        if n < b:
            chunk = np.concatenate([chunk, np.zeros((b - n, *chunk.shape[1:]), chunk.dtype)])
        outs.append(run(chunk)[:n])
    return np.concatenate(outs)


def runner_class(path: str | os.PathLike) -> type:
    p = Path(path)
    spec = RUNNERS.get(p.suffix.lower())
    if spec is None:
        raise EdgesegError(
            f"{p}: no runner for files ending in {p.suffix or '(no suffix)'!r}; "
            f"expected one of {', '.join(sorted(RUNNERS))}"
        )
    mod, cls = spec.split(":")
    return getattr(importlib.import_module(mod), cls)


def open_runner(path: str | os.PathLike, **options: Any) -> Runner:
    """Open the runner for ``path`` (use it as a context manager). Options go to the runner."""
    import inspect

    from edgeseg.errors import UnsupportedOptionError

    p = Path(path)
    if not p.exists():
        raise EdgesegError(f"{p}: file not found")
    cls = runner_class(p)
    params = inspect.signature(cls.__init__).parameters
    accepted = [n for n, q in params.items() if q.kind is inspect.Parameter.KEYWORD_ONLY]
    takes_any = any(q.kind is inspect.Parameter.VAR_KEYWORD for q in params.values())
    unknown = [k for k in options if k not in accepted]
    if unknown and not takes_any:
        raise UnsupportedOptionError(
            f"{p.name}: the {cls.__name__} does not take {', '.join(sorted(unknown))}; "
            f"it takes {', '.join(accepted) or 'no options'}"
        )
    return cls(p, **options)
