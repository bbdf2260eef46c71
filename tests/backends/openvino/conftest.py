"""Fixtures for the OpenVINO tests: the IR pair (``ir``) and its INT8 twin (``qdq``), built once per
session."""

from __future__ import annotations

import pytest

pytest.importorskip("openvino")

from _openvino_helpers import ir, qdq  # noqa: E402,F401 - fixtures
