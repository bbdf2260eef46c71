"""The INT8 calibrator for implicit quantization (TensorRT 8.5 - 10.x): streams batches from a
CalibrationSet (preprocessed from the model card) into one device buffer, with a progress bar,
and reads/writes the keyed cache (``_calib_cache``).

TensorRT calls ``get_batch_size`` first, then ``read_calibration_cache``, then ``get_batch`` until
it returns None, then ``write_calibration_cache`` with a buffer (a memoryview, not bytes); the
base ``__init__`` must run. Exceptions raised inside a callback cannot cross into TensorRT, so
they are kept and re-raised by the builder after the build.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from edgeseg.backends.tensorrt._calib_cache import CacheKey, read_cache, write_cache
from edgeseg.errors import BuildError

ALGORITHMS = ("entropy", "minmax")


class BatchFeeder:
    """Host side of the stream: yields contiguous float32 NCHW batches of exactly ``shape``.

    A short last batch (fewer frames than the batch size) is dropped and counted in ``dropped``:
    TensorRT needs every calibration batch at the network's batch size.
    """

    def __init__(self, calib_set: Any, shape: tuple[int, ...]) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.total = math.ceil(len(calib_set) / self.shape[0]) if len(calib_set) else 0
        self._it: Iterator[np.ndarray] | None = iter(calib_set.batches())
        self.fed = 0
        self.dropped = 0

    def next(self) -> np.ndarray | None:
        """The next batch, or None when the set is exhausted (and on every call after)."""
        while self._it is not None:
            try:
                batch = next(self._it)
            except StopIteration:
                self._it = None
                break
            arr = np.asarray(batch)
            if arr.ndim != 4 or arr.shape[1:] != self.shape[1:] or arr.shape[0] > self.shape[0]:
                raise BuildError(
                    f"calibration batch has shape {tuple(arr.shape)}, the network input takes {self.shape}"
                )
            if arr.shape[0] < self.shape[0]:
                self.dropped += int(arr.shape[0])
                continue
            if not np.isfinite(arr).all():
                raise BuildError("a calibration batch holds NaN/Inf values; check the calibration images")
            self.fed += 1
            return np.ascontiguousarray(arr, dtype=np.float32)
        return None


def make_calibrator(
    trt: Any,
    cuda: Any,
    *,
    calib_set: Any | None,
    shape: tuple[int, ...],
    algorithm: str,
    cache_path: str | os.PathLike,
    key: CacheKey,
    reuse_cache: bool,
    progress: bool = True,
) -> Any:
    """A TensorRT calibrator object (subclass of IInt8EntropyCalibrator2 or IInt8MinMaxCalibrator).

    ``reuse_cache``: serve the existing (already key-checked) cache; TensorRT then asks for no batches.
    Call ``.close()`` after the build; ``.error`` holds an exception raised inside a callback.
    """
    if algorithm not in ALGORITHMS:
        raise BuildError(
            f"unknown calibration algorithm {algorithm!r}; expected one of {', '.join(ALGORITHMS)}"
        )
    base_name = "IInt8EntropyCalibrator2" if algorithm == "entropy" else "IInt8MinMaxCalibrator"
    base = getattr(trt, base_name, None)
    if base is None:
        raise BuildError(
            f"this TensorRT ({getattr(trt, '__version__', '?')}) has no {base_name}; build a Q/DQ ONNX "
            "instead"
        )
    if calib_set is None and not reuse_cache:
        raise BuildError("calibration needs a calibration set (--calib LIST|DIR)")
    cache_path = Path(cache_path)
    nbytes = int(np.prod(shape)) * 4

    class _Calibrator(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            base.__init__(self)
            self.error: BaseException | None = None
            self.cache_written = False
            self.feeder = BatchFeeder(calib_set, shape) if calib_set is not None else None
            self._dmem = cuda.mem_alloc(nbytes) if calib_set is not None else None
            self._bar = None
            if progress and self.feeder is not None and not reuse_cache:
                from edgeseg._progress import progress_bar

                self._bar = progress_bar(
                    total=self.feeder.total, desc="calibrating", unit="batch", leave=False
                )

        def get_batch_size(self) -> int:
            # Required on every TensorRT that has calibrators (8.5 - 10.x): it is pure virtual in the
            # bindings and the builder calls it before calibrating. It is the batch of the buffers
            # get_batch fills (the profile's opt batch).
            return int(shape[0])

        def get_batch(self, names: Any, *args: Any) -> list[int] | None:
            if self.error is not None or self.feeder is None:
                return None
            try:
                arr = self.feeder.next()
                if arr is None:
                    return None
                cuda.memcpy_htod(self._dmem, arr)
                if self._bar is not None:
                    self._bar.update(1)
                return [int(self._dmem)]
            except BaseException as e:  # noqa: BLE001 - must not propagate into TensorRT
                self.error = e
                return None

        def read_calibration_cache(self, *args: Any) -> bytes | None:
            if not reuse_cache:
                return None
            try:
                return read_cache(cache_path)
            except BaseException as e:  # noqa: BLE001
                self.error = e
                return None

        def write_calibration_cache(self, cache: Any, *args: Any) -> None:
            if self.error is not None or reuse_cache:
                return  # never store scales from an interrupted or reused calibration
            if self.feeder is not None and self.feeder.fed == 0:
                self.error = BuildError("the calibration set gave no full batch; nothing was calibrated")
                return
            try:
                write_cache(cache_path, bytes(cache), key)
                self.cache_written = True
            except BaseException as e:  # noqa: BLE001
                self.error = e

        def close(self) -> None:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            if self._dmem is not None:
                self._dmem.free()
                self._dmem = None

    return _Calibrator()
