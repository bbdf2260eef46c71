"""Fixtures for tests/onnxgraph/: the tiny CGNet exports and the tiny Q/DQ ONNX of the build tests
(``tests/backends/_shared/build_fixtures.py``, put on sys.path as tests/backends/conftest.py does)."""

from __future__ import annotations

import sys
from pathlib import Path

_SHARED = Path(__file__).resolve().parents[1] / "backends" / "_shared"
if str(_SHARED) not in sys.path:
    sys.path.insert(0, str(_SHARED))

from build_fixtures import qdq_onnx, tiny_models  # noqa: E402,F401 - fixtures
