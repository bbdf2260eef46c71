"""Run a TensorRT engine built by ``edgeseg build`` (TensorRT 8.5+ / 10.x / 11.x, pycuda buffers).

Before deserializing, the engine's sidecar card is checked against the running TensorRT version
and GPU compute capability, and the file against its recorded size and sha256
(``edgeseg.backends.tensorrt._engine_card.check_engine``): TensorRT would otherwise return None or abort.

Buffers: page-locked host + device buffers sized for the profile's max shape, one stream, the
name-based tensor API (``set_input_shape`` / ``set_tensor_address`` / ``execute_async_v3``).
Batches larger than the engine's max batch are run in chunks; a static-batch engine gets a
short last chunk padded. The CUDA context is pushed around every call, so another thread may
call ``infer``. Use as a context manager: ``__exit__`` frees every buffer (page-locked host and
device) inside the CUDA context and then releases the context. ``close()`` must run on the thread
that opened the runner (pycuda's context stack is per thread); from another thread it raises
EdgesegError and frees nothing, so the opening thread can still close it.
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from edgeseg.runner import BaseRunner
from edgeseg.card import ModelCard
from edgeseg.errors import BuildError, EdgesegError


def _device_index(device: int | str) -> int:
    """0, "0" or "cuda:0" -> 0."""
    text = str(device).strip().lower()
    if text.startswith("cuda:"):
        text = text[5:]
    if not text.isdigit():
        raise EdgesegError(f"TensorRT runner: device must be a GPU index like 0 or cuda:0, found {device!r}")
    return int(text)


class TensorRTRunner(BaseRunner):
    """``TensorRTRunner(path, *, device=0)``: a Runner for .engine / .plan files."""

    backend = "tensorrt"

    def __init__(self, path: str | os.PathLike, *, device: int | str = 0) -> None:
        from edgeseg.backends.tensorrt._engine_card import check_engine, check_engine_files, rebuild_hint
        from edgeseg.backends.tensorrt._env import CudaDevice, import_pycuda, import_tensorrt, trt_version

        self.path = Path(path)
        self._owner_thread = threading.get_ident()
        device = _device_index(device)
        check_engine_files(
            self.path
        )  # a missing file or card is reported even where TensorRT is not installed
        trt = import_tensorrt()
        cuda = import_pycuda()
        self._trt, self._cuda = trt, cuda
        self._gpu = CudaDevice(cuda, device)
        try:
            self.card: ModelCard = check_engine(
                self.path, tensorrt_version=trt_version(trt), compute_capability=self._gpu.compute_capability
            )
        except BaseException:
            self._gpu.release()
            raise
        self.precision = self.card.precision
        self._bufs: list[Any] = []
        self._closed = False  # from here on close() frees what was made
        try:
            with self._gpu.active():
                self._logger = trt.Logger(trt.Logger.WARNING)
                self._runtime = trt.Runtime(self._logger)
                dla = self.card.extra.get("dla_core")
                if dla is not None:
                    self._runtime.DLA_core = int(dla)
                self._engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
                if self._engine is None:
                    raise BuildError(
                        f"TensorRT could not deserialize {self.path}; {rebuild_hint(self.card, self.path)}"
                    )
                self._context = self._engine.create_execution_context()
                if self._context is None:
                    raise BuildError(
                        f"{self.path}: TensorRT could not create an execution context (out of GPU memory?)"
                    )
                self._setup_io()
        except BaseException:
            self.close()
            raise
        self.options = {"device": device}
        self._limits(
            size=(self._opt[2], self._opt[3]) if len(self._opt) == 4 else None,
            batch=(self._min[0], self._max[0]),
        )

    # -- setup --------------------------------------------------------------------------------
    def _setup_io(self) -> None:
        trt, cuda, eng, ctx = self._trt, self._cuda, self._engine, self._context
        names = [eng.get_tensor_name(i) for i in range(eng.num_io_tensors)]
        inputs = [n for n in names if eng.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self._outputs = [n for n in names if eng.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or not self._outputs:
            raise BuildError(f"{self.path}: expected one input and at least one output, found {names}")
        self._input = inputs[0]
        self._in_dtype = np.dtype(trt.nptype(eng.get_tensor_dtype(self._input)))
        static = tuple(int(v) for v in eng.get_tensor_shape(self._input))
        if static and all(
            v > 0 for v in static
        ):  # no profile needed (nor always queryable) for static inputs
            lo = opt = hi = static
        else:
            lo, opt, hi = (tuple(int(v) for v in s) for s in eng.get_tensor_profile_shape(self._input, 0))
        self._min, self._opt, self._max = lo, opt, hi
        if not ctx.set_input_shape(self._input, hi):
            raise BuildError(f"{self.path}: the engine refused its own max shape {hi}")
        self._stream = cuda.Stream()
        self._host: dict[str, np.ndarray] = {}
        self._dev: dict[str, Any] = {}
        for name in [self._input, *self._outputs]:
            shape = tuple(int(v) for v in ctx.get_tensor_shape(name))
            dtype = np.dtype(trt.nptype(eng.get_tensor_dtype(name)))
            n = int(np.prod(shape))
            self._host[name] = cuda.pagelocked_empty(n, dtype)
            self._dev[name] = cuda.mem_alloc(n * dtype.itemsize)
            self._bufs.append(self._dev[name])
            if not ctx.set_tensor_address(name, int(self._dev[name])):
                raise BuildError(f"{self.path}: could not bind tensor {name!r}")

    # -- BaseRunner ---------------------------------------------------------------------------------
    @property
    def profile(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        return self._min, self._opt, self._max

    def _check_size(self, x: np.ndarray) -> None:
        """H and W within the engine's profile (``input_size`` is the profile's opt size)."""
        for i, label in ((2, "height"), (3, "width")):
            if not self._min[i] <= x.shape[i] <= self._max[i]:
                rng = str(self._min[i]) if self._min[i] == self._max[i] else f"{self._min[i]}..{self._max[i]}"
                raise EdgesegError(
                    f"{self.path.name} takes {label} {rng}, found {x.shape[i]}; preprocess with "
                    f"size=runner.input_size ({self.input_size})"
                )

    def _infer_chunk(self, x: np.ndarray) -> np.ndarray:
        with self._gpu.active():
            return self._run_chunk(x)

    def _run_chunk(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]  # BaseRunner pads a short chunk to the engine's min batch
        ctx, cuda = self._context, self._cuda
        if not ctx.set_input_shape(self._input, x.shape):
            raise EdgesegError(
                f"{self.path.name}: input shape {x.shape} is outside the engine's profile {self.profile}"
            )
        host_in = self._host[self._input][: x.size].reshape(x.shape)
        np.copyto(host_in, x, casting="same_kind" if x.dtype.kind == "f" else "unsafe")
        cuda.memcpy_htod_async(self._dev[self._input], host_in, self._stream)
        if not ctx.execute_async_v3(self._stream.handle):
            raise EdgesegError(
                f"{self.path.name}: TensorRT execution failed (execute_async_v3 returned False)"
            )
        out_name = self._outputs[0]
        shape = tuple(int(v) for v in ctx.get_tensor_shape(out_name))
        host_out = self._host[out_name][: int(np.prod(shape))].reshape(shape)
        cuda.memcpy_dtoh_async(host_out, self._dev[out_name], self._stream)
        self._stream.synchronize()
        return np.array(host_out[:n], dtype=np.float32, copy=True)

    # -- lifetime ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Free the page-locked host and device buffers and the TensorRT objects inside the CUDA
        context, then release the context. Safe to call twice. Call it from the thread that opened
        the runner; another thread gets an EdgesegError and nothing is freed."""
        owner = getattr(self, "_owner_thread", None)
        if not self._closed and owner is not None and owner != threading.get_ident():
            raise EdgesegError(
                f"TensorRTRunner({self.path.name}) must be closed from the thread that opened it "
                f"(thread {owner}, this is thread {threading.get_ident()}): its CUDA context is current there"
            )
        super().close()

    def _release(self) -> None:
        try:
            with self._gpu.active():
                from edgeseg.backends.tensorrt._buffers import free_buffers

                free_buffers(getattr(self, "_host", {}), self._bufs)
                self._host, self._dev, self._bufs = {}, {}, []
                for attr in ("_context", "_engine", "_runtime", "_stream"):
                    if hasattr(self, attr):
                        setattr(self, attr, None)
        finally:
            self._gpu.release()

    def __del__(self) -> None:  # best effort; use the context manager
        if self._closed:
            return
        if getattr(self, "_owner_thread", None) != threading.get_ident():
            warnings.warn(
                f"TensorRTRunner({self.path.name}) was garbage-collected on another thread without "
                "close(); its CUDA buffers could not be freed",
                ResourceWarning,
                stacklevel=2,
            )
            return
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
