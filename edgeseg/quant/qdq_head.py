"""The head of a Q/DQ export (``edgeseg quantize --head``): the traced fake-quant model given a
``forward_lowres``, so ``edgeseg.export.head`` can end it in labels at the logits' own resolution.

A model prepared for quantization is a ``torch.fx.GraphModule`` (``placement.prepare``), which has no
``forward_lowres``; every edgeseg model ends in one bilinear ``interpolate`` of its logits to the input
size, so the low-res graph is the same graph with that interpolate's input as its output.
"""

from __future__ import annotations

import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from edgeseg.errors import QuantizationError


def lowres_graph(gm: fx.GraphModule) -> fx.GraphModule:
    """A GraphModule sharing ``gm``'s modules whose output is the input of ``gm``'s final ``interpolate``
    (the logits before the resize to the input size); QuantizationError when the graph does not end in one."""
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    for node in gm.graph.nodes:
        if node.op == "output":
            last = node.args[0]
            if not (
                isinstance(last, fx.Node) and last.op == "call_function" and last.target is F.interpolate
            ):
                raise QuantizationError(
                    "--head labels-lowres: the quantized graph does not end in an interpolate "
                    "of the logits; use --head labels"
                )
            graph.output(env[last.args[0]])
            break
        env[node] = graph.node_copy(node, lambda n: env[n])
    low = fx.GraphModule(gm, graph, type(gm).__name__ + "Lowres")
    low.graph.eliminate_dead_code()  # the size of the dropped resize (x.shape[2:])
    low.recompile()
    return low


class WithLowres(nn.Module):
    """``full`` (the traced model) with ``forward_lowres`` from ``lowres_graph(full)``: what
    ``edgeseg.export.head.with_head(..., "labels-lowres")`` needs."""

    def __init__(self, full: fx.GraphModule) -> None:
        super().__init__()
        self.full = full
        self.lowres = lowres_graph(full)

    def forward(self, x):  # noqa: ANN001, ANN201 - a traced module's signature
        return self.full(x)

    def forward_lowres(self, x):  # noqa: ANN001, ANN201
        return self.lowres(x)
