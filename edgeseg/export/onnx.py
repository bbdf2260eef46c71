"""Export a model to ONNX with its card in metadata_props, then onnx.checker + shape inference.

Uses the TorchScript exporter (``dynamo=False``): it exports fake-quantize ops as Q/DQ pairs,
which the dynamo exporter cannot do yet (torch 2.13).
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

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
    head: str = "logits",
) -> Path:
    """Write ``path`` (atomically) and return it. Defaults: ``size`` = card.input_size, batch 1,
    static shapes (``dynamic=True`` makes batch, height and width dynamic), opset 17, ``head``
    "logits" (``edgeseg.export.head``: "labels" / "labels-lowres" end the graph in a uint8 label map).
    The card stored in the file gets ``input_size`` = ``size`` and ``extra["head"]`` = ``head``."""
    import onnx

    from edgeseg.export.head import OUTPUT_NAMES, with_head

    out = check_output_path(path)
    if opset < 17:
        raise ExportError(f"opset {opset} is too old: edgeseg exports opset 17 or newer")
    h, w = size or card.input_size
    model = with_head(model.eval().cpu(), head, arch=repr(card.arch))
    card = card.replace(input_size=(int(h), int(w)), extra={**card.extra, "head": head})
    output_name = OUTPUT_NAMES[head]
    dummy = torch.zeros(batch, 3, h, w)
    axes = {
        INPUT_NAME: {0: "batch", 2: "height", 3: "width"},
        output_name: {0: "batch", 2: "height", 3: "width"},
    }
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (dummy,),
                buf,
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[output_name],
                dynamic_axes=axes if dynamic else None,
                do_constant_folding=True,
            )
    except Exception as e:  # noqa: BLE001 - the exporter raises many kinds
        raise ExportError(f"ONNX export of {card.arch!r} failed: {str(e).splitlines()[0][:300]}") from e
    proto = onnx.load_from_string(buf.getvalue())
    zero_subnormal_initializers(proto)  # constant folding (BN into Conv) makes new ones
    card_to_onnx(proto, card)
    try:
        onnx.checker.check_model(proto, full_check=False)
        proto = onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True, data_prop=True)
    except Exception as e:  # noqa: BLE001
        raise ExportError(f"exported ONNX for {card.arch!r} failed onnx.checker/shape inference: {e}") from e
    return atomic_write_bytes(out, proto.SerializeToString())


def zero_subnormal_initializers(proto: Any) -> int:
    """Set float32/float64 initializer values below the smallest normal number (nonzero) to 0, in
    place; returns how many. Folding BatchNorm into a Conv multiplies tiny weights into that range, and
    x86 CPUs compute with such values many times slower (ONNX Runtime FP32 ran the shipped CGNet's
    export at 294 ms instead of 99 on a Xeon; see ``edgeseg.train.checkpoint.zero_subnormals``). No output
    changes: each was below 1.2e-38."""
    import numpy as np
    from onnx import numpy_helper

    count = 0
    for init in proto.graph.initializer:
        if init.data_type not in (1, 11):  # FLOAT, DOUBLE
            continue
        a = numpy_helper.to_array(init)
        sub = (a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny)
        n = int(sub.sum())
        if n:
            init.CopyFrom(numpy_helper.from_array(np.where(sub, a.dtype.type(0), a), init.name))
            count += n
    return count
