"""What leaving a unit in float costs, per unit, for the fallback search's ``prefer_cheap`` ranking.

:func:`flops_cost` counts each weighted op's multiply-adds (x2) at the model's input size, in GFLOP per
frame. It is an ESTIMATE of relative cost, not a latency: an INT8 -> FP16 (TensorRT) or INT8 -> FP32
(CPU) fallback costs roughly in proportion to the layer's math while that math dominates, and less for
memory-bound layers (depthwise convs). Measured per-layer latency on the target replaces it where a
target is at hand. Residual quantizer units cost 0 here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn as nn

from edgeseg.quant.fakequant import QUANT_MODULES, quantizers
from edgeseg.quant.mixed import units

#: How the card and the report label these numbers.
FLOPS_LABEL = "GFLOP per frame (estimate from FLOPs, not measured)"


def flops_cost(qmodel: nn.Module, example: np.ndarray) -> dict[str, float]:
    """{unit: GFLOP per frame} for the weighted units of ``qmodel`` (calibrated or not; its quantizers'
    modes are restored) on ``example`` (one NCHW batch)."""
    kinds = tuple(QUANT_MODULES.values())
    out: dict[str, float] = {u: 0.0 for u in units(qmodel)}
    hooks = []

    def hook(name: str):
        def fn(m: nn.Module, inp: Any, y: torch.Tensor) -> None:
            if isinstance(m, nn.Linear):
                macs = y.numel() * m.in_features
            else:
                k = int(np.prod(m.kernel_size))
                cin = m.in_channels // m.groups
                macs = (
                    y.numel() * cin * k if isinstance(m, nn.Conv2d) else inp[0].numel() * m.out_channels * k
                )
            out[name] = 2.0 * macs / y.shape[0] / 1e9

        return fn

    for name, m in qmodel.named_modules():
        if isinstance(m, kinds) and name in out:
            hooks.append(m.register_forward_hook(hook(name)))
    saved = {n: q.mode for n, q in quantizers(qmodel).items()}
    for q in quantizers(qmodel).values():
        q.mode = "off"  # shapes only: calibrated or not
    try:
        with torch.inference_mode():
            qmodel.eval()(torch.from_numpy(np.ascontiguousarray(example[:1])))
    finally:
        for h in hooks:
            h.remove()
        for n, q in quantizers(qmodel).items():
            q.mode = saved[n]
    return out
