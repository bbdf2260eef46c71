"""One quantized checkpoint, a Q/DQ ONNX per target and head: QAT once, then export the fine-tuned
model placed for TensorRT or for the CPU runtimes, ending in logits or labels.

The checkpoint is what ``edgeseg quantize --method qat|ptq --save-checkpoint PT`` writes (the float
architecture's weights plus every quantizer's range, :mod:`edgeseg.quant.qcheckpoint`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable


def export_for_target(
    checkpoint: str | os.PathLike,
    output: str | os.PathLike,
    *,
    target: str = "tensorrt",
    head: str = "logits",
    calib: Any = None,
    calib_method: str = "mse",
    deploy_form: bool = False,
    device: str = "cpu",
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> Path:
    """Write the quantized ``checkpoint`` as a Q/DQ ONNX placed for ``target`` (default "tensorrt":
    its ranges as stored; "cpu": plus output quantizers calibrated on ``calib``, a CalibrationSet, with
    ``calib_method``, default mse; in the model's deploy form where it has one, ``deploy_form`` default
    False: slower on OpenVINO as measured, ``edgeseg.quant.deploy_fakequant``) ending in ``head``
    (default "logits"). Checks run before any
    work."""
    from edgeseg._io import check_output_path
    from edgeseg.errors import QuantizationError
    from edgeseg.export.head import check_head
    from edgeseg.quant.placement_cpu import check_target, placed_copy_for_cpu
    from edgeseg.quant.qcheckpoint import load_quantized_checkpoint
    from edgeseg.quant.qdq_export import export_qdq_onnx

    check_target(target)
    check_head(head)
    out = check_output_path(output)
    if target == "cpu" and calib is None:
        raise QuantizationError("target cpu needs calibration frames (calib) for its output quantizers")
    qmodel, card, _ = load_quantized_checkpoint(checkpoint)
    if target == "cpu":
        arch = card.arch if deploy_form else None
        qmodel, card = placed_copy_for_cpu(
            qmodel.to(device), card, calib, method=calib_method, arch=arch, progress=progress, log=log
        )
        qmodel.cpu()
    return export_qdq_onnx(qmodel, card, out, size=tuple(card.input_size), head=head)
