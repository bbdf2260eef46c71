"""Mixed precision for ExecuTorch: modules a card leaves in float stay out of the XNNPACK annotation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

pytest.importorskip("executorch")


class Three(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 8, 3, padding=1)
        self.c = nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c(torch.relu(self.b(torch.relu(self.a(x)))))


def _quantized_convs(float_modules) -> dict[str, bool]:
    """{conv module: its weight is dequantized from int8} after PT2E with ``float_modules`` left out."""
    from edgeseg.backends.executorch._lower import quantize_pt2e

    torch.manual_seed(0)
    net = Three().eval()
    x = torch.randn(1, 3, 16, 16)
    exported = torch.export.export(net, (x,))
    batches = [np.random.default_rng(i).standard_normal((1, 3, 16, 16)).astype(np.float32) for i in range(2)]
    q = quantize_pt2e(exported, batches, log=print, float_modules=float_modules)
    out = {}
    for n in q.graph.nodes:
        if n.op == "call_function" and "conv" in str(n.target):
            w = n.args[1]
            name = list((n.meta.get("nn_module_stack") or {"": ("?",)}).values())[-1][0]
            out[str(name)] = "dequantize" in str(getattr(w, "target", ""))
    return out


def test_float_modules_keep_float_weights_and_the_rest_is_int8():
    assert _quantized_convs([]) == {"a": True, "b": True, "c": True}
    assert _quantized_convs(["b"]) == {"a": True, "b": False, "c": True}
