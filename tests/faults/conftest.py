"""Fixtures for the fault table: tiny good artifacts built once per session, and the plant helpers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def _load_plant():
    name = "edgeseg_tests_faults_plant"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("_plant.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def plant(media):
    """The _plant helpers, plus the shared test-media writers of the root conftest."""
    from types import SimpleNamespace

    return SimpleNamespace(**vars(_load_plant()), png_header_only=media.png_header_only)


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory, plant, media):
    """Tiny good checkpoint / ONNX / dataset, shared read-only by every row."""
    return plant.build_artifacts(tmp_path_factory.mktemp("good"), write_pairs=media.write_pairs)
