"""ONNX models whose weights live in external data files (``onnx.save(..., save_as_external_data=True)``).

``load_header`` reads the graph without those weights; a path that rewrites the model (the FP16
conversion for strongly typed TensorRT) needs them loaded first, from the ONNX file's folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgeseg.errors import BuildError


def has_external_data(model: Any) -> bool:
    import onnx

    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)


def with_external_data(model: Any, onnx_path: str | os.PathLike) -> Any:
    """``model`` itself when every weight is inline, else a copy with the external weights loaded
    from beside ``onnx_path``. A missing or short data file is a BuildError naming it."""
    if not has_external_data(model):
        return model
    import onnx
    from onnx.external_data_helper import load_external_data_for_model

    full = onnx.ModelProto()
    full.CopyFrom(model)
    base = Path(onnx_path).parent
    try:
        load_external_data_for_model(full, str(base))
    except Exception as e:  # noqa: BLE001 - OSError, or onnx's ValidationError for a missing file
        raise BuildError(f"{onnx_path}: cannot read its external weight data in {base} ({e})") from e
    return full
