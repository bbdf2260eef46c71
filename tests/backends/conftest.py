"""Fixtures for tests/backends/: the build fixtures (``_shared/build_fixtures.py``) and the artifact
factories for the runner conformance test, one per suffix of every spec in ``edgeseg.backends.BACKENDS``.
The helpers live in ``_shared/`` (put on sys.path): never put ``tests/backends`` itself there, where
its ``tensorrt/`` folder would pass for the ``tensorrt`` package.

``ARTIFACT_FACTORIES[suffix](folder) -> Path`` builds (or reuses) a tiny artifact of that kind in
``folder`` from the same tiny checkpoint, or calls ``pytest.skip(reason)``. To add a backend, fill
its one function below; the conformance test then runs the whole contract on it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable

import pytest

_SHARED = Path(__file__).resolve().parent / "_shared"
if str(_SHARED) not in sys.path:  # so test modules can import _build_helpers
    sys.path.insert(0, str(_SHARED))

from build_fixtures import fake_trt, qdq_onnx, stub_calib, tiny_models  # noqa: E402,F401 - fixtures


def load_artifacts() -> ModuleType:
    """tests/backends/_shared/_runtime_artifacts.py as a module (test folders are not packages, so by
    path)."""
    name = "_edgeseg_runtime_test_artifacts"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _SHARED / "_runtime_artifacts.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


_A = load_artifacts()


def make_pt(folder: Path) -> Path:
    return _A.tiny_checkpoint(folder)


def make_onnx(folder: Path) -> Path:
    return _A.tiny_onnx(folder)


def make_engine(folder: Path) -> Path:
    """TensorRT engine (FP16) of tiny_onnx(folder); skipped where TensorRT + pycuda + a GPU are absent."""
    try:
        import pycuda.driver  # noqa: F401
        import tensorrt as trt
    except ImportError:
        pytest.skip("TensorRT/pycuda not installed (needs a Jetson or an NVIDIA GPU)")
    if getattr(trt, "FAKE", False) or not hasattr(trt, "Builder"):
        pytest.skip("no working TensorRT (a fake or a download stub is installed)")
    path = Path(folder) / "tiny.engine"
    if not path.is_file():
        from edgeseg.backends.tensorrt.build import build_tensorrt

        build_tensorrt(_A.tiny_onnx(folder), output=path, fp16=True, log=lambda s: None)
    return path


def make_plan(folder: Path) -> Path:
    return make_engine(folder)


def make_mlpackage(folder: Path) -> Path:
    """Core ML package of the tiny checkpoint; prediction needs macOS, so skipped elsewhere."""
    if sys.platform != "darwin":
        pytest.skip("Core ML prediction needs macOS (conversion itself is tested in tests/backends/coreml)")
    pytest.importorskip("coremltools")
    path = Path(folder) / "tiny.mlpackage"
    if not path.is_dir():
        from edgeseg.backends.coreml.build import build_coreml

        build_coreml(_A.tiny_checkpoint(folder), output=path, log=lambda s: None)
    return path


def make_xml(folder: Path) -> Path:
    """OpenVINO IR (FP32) of tiny_onnx(folder); skipped where openvino is not installed."""
    pytest.importorskip("openvino")
    path = Path(folder) / "tiny.xml"
    if not path.is_file():
        from edgeseg.backends.openvino.build import build_openvino

        build_openvino(_A.tiny_onnx(folder), output=path, log=lambda s: None)
    return path


def make_pte(folder: Path) -> Path:
    """ExecuTorch program (FP32, XNNPACK) of the tiny checkpoint; skipped where executorch is not
    installed."""
    pytest.importorskip("executorch")
    path = Path(folder) / "tiny.pte"
    if not path.is_file():
        from edgeseg.backends.executorch.build import build_executorch

        build_executorch(_A.tiny_checkpoint(folder), output=path, log=lambda s: None)
    return path


ARTIFACT_FACTORIES: dict[str, Callable[[Path], Path]] = {
    ".pt": make_pt,
    ".onnx": make_onnx,
    ".engine": make_engine,
    ".plan": make_plan,
    ".mlpackage": make_mlpackage,
    ".xml": make_xml,
    ".pte": make_pte,
}


@pytest.fixture(scope="session")
def artifact_dir(tmp_path_factory) -> Path:
    """One folder per test session holding the tiny artifacts (each built once)."""
    return tmp_path_factory.mktemp("runtime_artifacts")


@pytest.fixture(scope="session")
def arts() -> ModuleType:
    """The tiny-artifact helpers: tiny_card, tiny_model, tiny_checkpoint, tiny_onnx, frames, SIZE."""
    return _A


@pytest.fixture(scope="session")
def artifact_factories() -> dict[str, Callable[[Path], Path]]:
    return ARTIFACT_FACTORIES
