"""Mixed precision: leave chosen layers of a fake-quant model in float (the "fallback" layers).

A *unit* is what the sensitivity pass scores and the search may leave in float:

- a weighted op (``QuantConv2d`` / ``QuantConvTranspose2d`` / ``QuantLinear``, by module name): in
  float its weight quantizer is off and it reads the float tensor before its input quantizer (a
  quantizer shared with other consumers stays for them; one left with no consumer goes, and so does one
  left feeding only residual Adds: the identity branch of an inverted residual block, which reads the
  quantizer of the block's first conv, so "every unit float" is the FP32 model);
- a residual quantizer (``<scope>.residual_quantizer``): in float the Add reads the float tensor.

:func:`with_float_layers` returns a new model (a deep copy; the input is not changed). In the
exported Q/DQ ONNX a float layer has no Q/DQ on its input or weight; TensorRT runs it in FP16 when
the engine is built with --fp16 (8.6/10.x), and ``cast_fp16`` marks it with explicit Casts for a
strongly typed network (11.x). :func:`onnx_nodes` names the ONNX nodes of the float layers, which the
card records and ``check_qdq(allow_float_nodes=...)`` accepts.
"""

from __future__ import annotations

import copy
import operator
from typing import Any, Collection

import torch
import torch.fx as fx
import torch.nn as nn

from edgeseg.errors import QuantizationError
from edgeseg.quant.fakequant import QUANT_MODULES, TensorQuantizer


def _is_quantizer(gm: fx.GraphModule, node: Any) -> bool:
    return (
        isinstance(node, fx.Node)
        and node.op == "call_module"
        and isinstance(gm.get_submodule(node.target), TensorQuantizer)
    )


def _is_add(node: Any) -> bool:
    return (node.op == "call_function" and node.target in (operator.add, torch.add)) or (
        node.op == "call_method" and node.target in ("add", "add_")
    )


def units(qmodel: fx.GraphModule) -> list[str]:
    """The units of ``qmodel`` in graph order: weighted ops, then residual quantizers among them."""
    if not isinstance(qmodel, fx.GraphModule):
        raise QuantizationError(
            "mixed precision needs the fake-quant model from edgeseg.quant.placement.prepare"
        )
    kinds = tuple(QUANT_MODULES.values())
    out: list[str] = []
    for node in qmodel.graph.nodes:
        if node.op != "call_module" or node.target in out:
            continue
        m = qmodel.get_submodule(node.target)
        if isinstance(m, kinds) or (
            isinstance(m, TensorQuantizer) and node.target.endswith("residual_quantizer")
        ):
            out.append(str(node.target))
    return out


def with_float_layers(
    qmodel: fx.GraphModule,
    layers: Collection[str],
    *,
    biases: dict[str, torch.Tensor | None] | None = None,
) -> fx.GraphModule:
    """A copy of ``qmodel`` with the units ``layers`` in float (see the module docstring).

    ``biases`` (default None: keep the current ones): {op: float bias} put back on float weighted ops,
    e.g. the biases before bias correction (which corrects an INT8 error the float op no longer has).
    """
    known = units(qmodel)
    unknown = sorted(set(layers) - set(known))
    if unknown:
        raise QuantizationError(
            f"float layers {unknown[:3]}{'...' if len(unknown) > 3 else ''} are not units of this model "
            f"({len(known)} units, e.g. {known[:2]})"
        )
    gm = copy.deepcopy(qmodel)
    want = set(layers) | set(float_layers(qmodel))
    kinds = tuple(QUANT_MODULES.values())
    detached = []
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or node.target not in want:
            continue
        m = gm.get_submodule(node.target)
        if isinstance(m, kinds):
            m.weight_quantizer.mode = "off"
            src = node.args[0] if node.args else None
            if _is_quantizer(gm, src):
                node.update_arg(0, src.args[0])
                detached.append(src)
            if biases is not None and node.target in biases:
                b = biases[node.target]
                m.bias = None if b is None else nn.Parameter(b.detach().clone().to(m.weight.device))
        else:  # a residual quantizer: its users read its input
            node.replace_all_uses_with(node.args[0])
    for q in detached:  # a float op's input quantizer left feeding only residual Adds (the identity branch)
        if q.users and all(_is_add(u) for u in q.users):
            q.replace_all_uses_with(q.args[0])
    for node in list(gm.graph.nodes):  # quantizers nobody reads any more
        if _is_quantizer(gm, node) and not node.users:
            gm.graph.erase_node(node)
            gm.delete_submodule(node.target)
    gm.graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    gm.float_layers = sorted(want)  # what to_card() and the export read back
    return gm


def float_layers(qmodel: nn.Module) -> list[str]:
    """The units left in float by :func:`with_float_layers` (empty for a wholly INT8 model)."""
    return list(getattr(qmodel, "float_layers", []))


def _module_paths(node_name: str) -> set[str]:
    """The module path a node name can stand for: "/stage2/0/f_loc/Conv" (edgeseg's flat Q/DQ export)
    and "/stage2/stage2.0/f_loc/Conv" (the TorchScript exporter's scopes in an FP32 export) both give
    "stage2.0.f_loc"; a scope names a child by its parent's attribute ("/stage2_down/conv/conv.0/Conv":
    "stage2_down.conv.0")."""
    parts = [p for p in node_name.split("/") if p][:-1]
    if not parts:
        return set()
    scoped = [parts[0]]
    for p in parts[1:]:
        if p.startswith(scoped[-1] + "."):  # "conv.0" under "conv": the child 0 of conv
            scoped[-1] = p
        else:
            scoped.append(p)
    return {".".join(parts), ".".join(scoped)}


def onnx_nodes(model: Any, layers: Collection[str]) -> list[str]:
    """Names of the ONNX nodes (Conv / ConvTranspose / Gemm / MatMul) of the weighted units ``layers``,
    in a Q/DQ graph from ``export_qdq_onnx`` or an FP32 graph from ``export_onnx``."""
    weighted = ("Conv", "ConvTranspose", "Gemm", "MatMul")
    want = set(layers)
    out, found = [], set()
    for n in model.graph.node:
        if n.op_type not in weighted:
            continue
        hit = _module_paths(n.name) & want
        if hit:
            out.append(n.name)
            found |= hit
    missing = sorted(n for n in layers if n not in found and not n.endswith("residual_quantizer"))
    if missing:
        raise QuantizationError(f"no ONNX node found for float layers {missing[:3]} (node names changed?)")
    return out
