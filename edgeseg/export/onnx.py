"""Export a model to ONNX with its card in metadata_props, then onnx.checker + shape inference.

Uses the TorchScript exporter (``dynamo=False``): it exports fake-quantize ops as Q/DQ pairs,
which the dynamo exporter cannot do yet (torch 2.13).
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import torch
import torch.nn as nn

from edgeseg._io import atomic_write_bytes, check_output_path
from edgeseg.card import ModelCard, card_to_onnx
from edgeseg.errors import ExportError

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
DEFAULT_OPSET = 17


def export_onnx(
    model: nn.Module,
    card: ModelCard,
    path: str | os.PathLike,
    *,
    size: tuple[int, int] | None = None,
    batch: int = 1,
    dynamic: bool = False,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Write ``path`` (atomically) and return it. Defaults: ``size`` = card.input_size, batch 1,
    static shapes (``dynamic=True`` makes batch, height and width dynamic), opset 17.
    The card stored in the file gets ``input_size`` = ``size``."""
    import onnx

    out = check_output_path(path)
    if opset < 17:
        raise ExportError(f"opset {opset} is too old: edgeseg exports opset 17 or newer")
    h, w = size or card.input_size
    card = card.replace(input_size=(int(h), int(w)))
    model = model.eval().cpu()
    dummy = torch.zeros(batch, 3, h, w)
    axes = {INPUT_NAME: {0: "batch", 2: "height", 3: "width"}, OUTPUT_NAME: {0: "batch", 2: "height", 3: "width"}}
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model, (dummy,), buf, dynamo=False, opset_version=opset,
                input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_axes=axes if dynamic else None, do_constant_folding=True,
            )
    except Exception as e:  # noqa: BLE001 - the exporter raises many kinds
        raise ExportError(f"ONNX export of {card.arch!r} failed: {str(e).splitlines()[0][:300]}") from e
    proto = onnx.load_from_string(buf.getvalue())
    card_to_onnx(proto, card)
    try:
        onnx.checker.check_model(proto, full_check=False)
        proto = onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True, data_prop=True)
    except Exception as e:  # noqa: BLE001
        raise ExportError(f"exported ONNX for {card.arch!r} failed onnx.checker/shape inference: {e}") from e
    return atomic_write_bytes(out, proto.SerializeToString())
