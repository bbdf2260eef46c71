"""Tiny checkpoint/ONNX helpers shared with tests/backends (loaded by path: test folders are not packages)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


def _load_artifacts() -> ModuleType:
    name = "_edgeseg_runtime_test_artifacts"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "backends" / "_shared" / "_runtime_artifacts.py"
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


@pytest.fixture(scope="session")
def arts() -> ModuleType:
    """tiny_card, tiny_model, tiny_checkpoint(folder), tiny_onnx(folder), frames(n, size), SIZE."""
    return _load_artifacts()


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory, arts) -> Path:
    """A tiny CGNet checkpoint (m=2, n=3, 11 classes, card input 64x96), written once per session."""
    return arts.tiny_checkpoint(tmp_path_factory.mktemp("export_ckpt"))
