"""Lazy imports of TensorRT and pycuda, and the CUDA device facts engines are tied to.

Nothing here imports tensorrt or pycuda at module import time. Tests inject fakes into
``sys.modules`` (tests/fakes/); production code never does.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from edgeseg.errors import BuildError, MissingDependencyError

#: How to get TensorRT (the one hint edgeseg prints: doctor, build and the runner).
TRT_HINT = (
    "on a Jetson TensorRT comes with JetPack (preinstalled, or sudo apt install nvidia-jetpack; in a "
    "venv use --system-site-packages); on an x86 machine with an NVIDIA GPU: "
    "pip install tensorrt --extra-index-url https://pypi.nvidia.com"
)
#: How to get pycuda (runs engines; the CUDA toolkit must be there).
PYCUDA_HINT = (
    "pip install pycuda (needs the CUDA toolkit, nvcc on PATH); on a Jetson JetPack provides CUDA, "
    "then pip install pycuda inside the venv"
)


def import_tensorrt() -> Any:
    try:
        import tensorrt
    except ImportError as e:
        raise MissingDependencyError("tensorrt", "tensorrt", TRT_HINT) from e
    if not hasattr(tensorrt, "Builder"):  # the PyPI 'tensorrt' download stub, or a broken install
        raise MissingDependencyError(
            "tensorrt",
            "tensorrt",
            f"the installed tensorrt has no Builder (the PyPI download stub?); {TRT_HINT}",
        )
    return tensorrt


def import_pycuda() -> Any:
    try:
        import pycuda.driver as cuda
    except ImportError as e:
        raise MissingDependencyError("pycuda", "tensorrt", PYCUDA_HINT) from e
    return cuda


def tensorrt_available() -> bool:
    """True when ``import tensorrt`` gives a working TensorRT (without raising)."""
    try:
        import_tensorrt()
    except MissingDependencyError:
        return False
    return True


class CudaDevice:
    """One GPU through pycuda: its primary context (shared with TensorRT), name and compute capability.

    Use ``with dev.active(): ...`` around every CUDA call: it pushes the context and pops it after,
    so a runner can be used from another thread than the one that opened it.
    """

    def __init__(self, cuda: Any, index: int = 0) -> None:
        self.cuda = cuda
        try:
            cuda.init()
            count = cuda.Device.count()
        except Exception as e:  # noqa: BLE001 - pycuda raises its own error types
            raise BuildError(
                f"CUDA is not usable here ({e.__class__.__name__}: {e}); is the NVIDIA driver loaded?"
            ) from e
        if not 0 <= index < count:
            raise BuildError(f"CUDA device {index} does not exist (found {count} device(s): 0..{count - 1})")
        self.index = index
        self.device = cuda.Device(index)
        self.name = str(self.device.name())
        major, minor = self.device.compute_capability()
        self.compute_capability = f"{major}.{minor}"
        self._ctx = self.device.retain_primary_context()

    @contextlib.contextmanager
    def active(self) -> Iterator["CudaDevice"]:
        self._ctx.push()
        try:
            yield self
        finally:
            self.cuda.Context.pop()

    def release(self) -> None:
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            with contextlib.suppress(Exception):
                ctx.detach()


def trt_version(trt: Any) -> str:
    return str(getattr(trt, "__version__", "unknown"))
