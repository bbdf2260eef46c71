"""The Runner contract and ``BaseRunner``, which every backend's runner extends.

A runner is a context manager that turns an NCHW float32 batch (already preprocessed with
``edgeseg.data.preprocess.preprocess`` from ``runner.card``) into NCHW float32 logits on the host.
``BaseRunner`` does what is the same everywhere: the input check (ndarray, NCHW, 3 channels, float,
the artifact's size), chunking to the artifact's batch limits (a short chunk zero-padded to a static
batch and the padding dropped), counting batches with NaN/Inf logits (warned once), the closed
state, the context manager and ``repr``. A backend implements ``_infer_chunk(x)`` and ``_release()``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from edgeseg.card import ModelCard
from edgeseg.errors import EdgesegError


@runtime_checkable
class Runner(Protocol):
    """What every backend provides.

    - ``card``: the model card the input must be preprocessed with.
    - ``backend``: the spec name ("torch", "onnxruntime", "openvino", "tensorrt", "coreml").
    - ``precision``: "fp32", "fp16" or "int8".
    - ``input_size``: (H, W) the artifact accepts, or None when any size works.
    - ``infer(batch)``: NCHW float32 -> NCHW float32 logits (host numpy arrays); an artifact whose card
      records a labels head (``card.extra["head"]``, ``edgeseg export --head labels``) gives
      N x 1 x H x W uint8 label maps instead (``edgeseg.segment.logits_to_labels`` takes both).
    """

    card: ModelCard
    backend: str
    precision: str

    @property
    def input_size(self) -> tuple[int, int] | None: ...

    def infer(self, batch: np.ndarray) -> np.ndarray: ...

    def __enter__(self) -> "Runner": ...

    def __exit__(self, *exc: Any) -> None: ...


def check_finite(logits: np.ndarray) -> bool:
    """True when every value is finite. Runners never refuse NaN/Inf output; they count such batches
    (``nonfinite_batches``) and the camera loop and the benchmark flag them (FP16 overflow is the usual
    cause)."""
    return bool(np.isfinite(logits).all())


def check_batch(batch: Any, *, where: str = "infer") -> np.ndarray:
    """The Runner input contract: an NCHW numpy array with 3 channels; returned as contiguous float32."""
    if not isinstance(batch, np.ndarray):
        raise EdgesegError(f"{where}: expected a numpy NCHW float32 batch, found {type(batch).__name__}")
    if batch.ndim != 4 or batch.shape[1] != 3 or 0 in batch.shape:
        raise EdgesegError(
            f"{where}: expected an NCHW batch with 3 channels (preprocess(frames, runner.card)), "
            f"found shape {tuple(batch.shape)}"
        )
    if not np.issubdtype(batch.dtype, np.floating):
        raise EdgesegError(
            f"{where}: expected float32 input, found {batch.dtype} (use edgeseg.data.preprocess)"
        )
    return np.ascontiguousarray(batch, dtype=np.float32)


def run_in_chunks(
    x: np.ndarray, run: Callable[[np.ndarray], np.ndarray], *, step: int | None, pad_to: int | None = None
) -> np.ndarray:
    """``run`` on chunks of at most ``step`` frames (None: one call), each shorter chunk zero-padded to
    ``pad_to`` frames (None: not padded) and its padding dropped from the output."""
    if step is None or x.shape[0] <= step and (pad_to is None or x.shape[0] >= pad_to):
        return run(x)
    outs = []
    for i in range(0, x.shape[0], step):
        chunk = x[i : i + step]
        n = chunk.shape[0]
        if pad_to is not None and n < pad_to:
            chunk = np.concatenate([chunk, np.zeros((pad_to - n, *chunk.shape[1:]), chunk.dtype)])
        outs.append(run(chunk)[:n])
    return np.concatenate(outs) if len(outs) > 1 else outs[0]


def check_threads(threads: Any, *, where: str, error: type[Exception] | None = None) -> None:
    """The one thread-count check (runners and builds): ``error`` (default UnsupportedOptionError; builds
    pass BuildError) unless ``threads`` is None or a whole number >= 1."""
    from edgeseg.errors import UnsupportedOptionError

    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise (error or UnsupportedOptionError)(
            f"{where}: threads must be a positive integer, found {threads!r}"
        )


def resolve_threads(*, option: Any = None, row: Any = None, card: ModelCard | None = None) -> int | None:
    """The one rule for a run's CPU threads: the runner ``option`` when given, else the bench ``row``'s
    setting, else what the build recorded in ``card`` (``recorded_threads``), else None (the library's
    default). Each given value is checked (``check_threads``)."""
    for value, where in ((option, "runner option threads"), (row, "row threads")):
        if value is not None:
            check_threads(value, where=where)
            return int(value)
    return recorded_threads(card) if card is not None else None


def recorded_threads(card: ModelCard) -> int | None:
    """The CPU thread count a build recorded (``card.extra["threads"]``), or None (the library's default)."""
    built = card.extra.get("threads")
    return built if isinstance(built, int) and not isinstance(built, bool) and built >= 1 else None


class BaseRunner:
    """The shared half of every runner. A subclass sets ``backend`` (its spec name), and in its
    ``__init__`` ``path``, ``card``, ``precision``, ``options`` and calls ``_limits(size=, batch=)``;
    it implements ``_infer_chunk(x)`` (float32 NCHW within the limits -> logits) and ``_release()``."""

    backend = ""
    path: Path | None = None
    card: ModelCard
    precision: str
    options: dict[str, Any]
    _closed = True
    _size: tuple[int, int] | None = None
    _batch: tuple[int, int] | None = None  # (smallest, largest) batch one call takes; None: any

    def _limits(self, *, size: tuple[int, int] | None, batch: tuple[int, int] | None) -> None:
        """Declare the artifact's fixed (H, W) (None: any) and batch range (None: any); opens the runner."""
        self._size = None if size is None else (int(size[0]), int(size[1]))
        self._batch = batch
        self.nonfinite_batches = 0
        self._closed = False

    @property
    def name(self) -> str:
        return f"{self.backend} runner"

    # -- the Runner contract ----------------------------------------------------------------------
    @property
    def input_size(self) -> tuple[int, int] | None:
        return self._size

    @property
    def static_batch(self) -> int | None:
        """The artifact's fixed batch size, or None when the batch dimension is not fixed."""
        return self._batch[0] if self._batch and self._batch[0] == self._batch[1] else None

    @property
    def batch_limits(self) -> tuple[int, int] | None:
        """(smallest, largest) batch one call of the artifact takes; None when any batch is taken."""
        return self._batch

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """NCHW float32 -> NCHW float32 logits (a labels head: N x 1 x H x W uint8). Batches beyond the
        artifact's batch limits run in chunks."""
        if self._closed:
            raise EdgesegError(f"{self.name} is closed: infer() after close()")
        x = check_batch(batch, where=self.name)
        self._check_size(x)
        lo, hi = self._batch or (None, None)
        y = run_in_chunks(x, self._infer_chunk, step=hi, pad_to=lo)
        if not check_finite(y):
            self.nonfinite_batches += 1
            if self.nonfinite_batches == 1:
                where = self.path.name if self.path is not None else self.name
                warnings.warn(
                    f"{where}: NaN/Inf in the logits (FP16 overflow?)", RuntimeWarning, stacklevel=2
                )
        return y

    def _check_size(self, x: np.ndarray) -> None:
        """EdgesegError when a fixed-size artifact gets another size."""
        size = self._size
        if size is not None and tuple(x.shape[2:]) != size:
            name = self.path.name if self.path is not None else "the model"
            raise EdgesegError(
                f"{self.name}: {name} takes {size[0]}x{size[1]} input, found {x.shape[2]}x{x.shape[3]} "
                "(segment() resizes frames to runner.input_size; or export with --dynamic)"
            )

    def _infer_chunk(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _release(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- lifetime ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Free what the runner holds. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._release()

    def __enter__(self) -> "BaseRunner":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _describe(self) -> str:
        """Backend facts for ``repr`` (default: the options)."""
        return ", ".join(f"{k}={v}" for k, v in getattr(self, "options", {}).items())

    def __repr__(self) -> str:
        src = self.path if self.path is not None else "<in-memory model>"
        card = getattr(self, "card", None)
        arch = card.arch if card is not None else "?"
        state = ", closed" if self._closed else ""
        return (
            f"{type(self).__name__}({src}, {arch}, {getattr(self, 'precision', '?')}, "
            f"{self._describe()}{state})"
        )
