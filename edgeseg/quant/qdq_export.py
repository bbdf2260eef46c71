"""Export a fake-quant model to a TensorRT-ready Q/DQ ONNX with int8 weight initializers.

The TorchScript exporter writes each weight as ``float initializer -> QuantizeLinear ->
DequantizeLinear``. :func:`fold_weight_quantizers` computes the int8 values (ONNX rounding: half to
even, saturating) and stores ``int8 initializer -> DequantizeLinear`` instead, so the file holds
one byte per weight (TensorRT accepts both forms). Every export is checked with
:func:`edgeseg.quant.qdq_check.check_qdq`; on a violation nothing is written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Collection

import numpy as np
import torch.nn as nn

from edgeseg._io import atomic_path, atomic_write_bytes, check_output_path
from edgeseg.card import ModelCard
from edgeseg.errors import QuantizationError


def _constants(model: Any) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    out = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    out[n.output[0]] = numpy_helper.to_array(a.t)
    return out


def quantize_array(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int) -> np.ndarray:
    """ONNX QuantizeLinear to int8: saturate(round_half_even(x / scale) + zero_point)."""
    scale = np.asarray(scale, np.float32)
    zp = np.zeros_like(scale, np.int32) if zero_point is None else np.asarray(zero_point, np.int32)
    if scale.size > 1:
        shape = [1] * x.ndim
        shape[axis] = scale.size
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    q = np.rint(x.astype(np.float32) / scale) + zp
    return np.clip(q, -128, 127).astype(np.int8)


def fold_weight_quantizers(model: Any) -> int:
    """Replace ``QuantizeLinear(float constant)`` by an int8 initializer, in place. Returns the count."""
    from onnx import numpy_helper

    g = model.graph
    # The exporter writes equal tensors once and the others as Identity of it; without this bypass the
    # QuantizeLinear behind such an Identity (a scale equal to another layer's; a weight equal to
    # another's) is not a constant, and 41 of the shipped CGNet's 126 weights stayed float + Q.
    _bypass_identities(model)
    consts = _constants(model)
    users: dict[str, int] = {}
    for n in g.node:
        for i in n.input:
            users[i] = users.get(i, 0) + 1
    removed = []
    made: dict[tuple, str] = {}
    for n in list(g.node):
        if n.op_type != "QuantizeLinear" or n.input[0] not in consts or n.input[1] not in consts:
            continue
        zp_name = n.input[2] if len(n.input) > 2 and n.input[2] else None
        if zp_name is not None and zp_name not in consts:
            continue
        zp = consts[zp_name] if zp_name else None
        if zp is None or zp.dtype != np.int8:
            continue  # only int8 targets are folded; the checker reports others
        axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
        w = consts[n.input[0]]
        axis = axis + w.ndim if axis < 0 else axis
        for i in n.input:
            users[i] -= 1
        wname = n.input[0]
        key = (wname, n.input[1], zp_name, axis)
        if key in made:  # the same float weight, scale and zero point (equal tensors the exporter shared)
            name = made[key]
        else:
            q = quantize_array(w, consts[n.input[1]], zp, axis)
            if users.get(wname, 0) == 0:  # drop the float weight; its int8 version takes its name
                for t in list(g.initializer):
                    if t.name == wname:
                        g.initializer.remove(t)
                name = wname.replace("/", ".")
            else:
                name = wname.replace("/", ".") + "_int8"
            taken = {t.name for t in g.initializer}
            base, k = name, 2
            while name in taken:
                name, k = f"{base}_{k}", k + 1
            made[key] = name
            g.initializer.append(numpy_helper.from_array(q, name))
        for m in g.node:
            m.input[:] = [name if i == n.output[0] else i for i in m.input]
        g.node.remove(n)
        removed.append(wname)
    used = {i for m in g.node for i in m.input} | {o.name for o in g.output}
    for t in list(g.initializer):  # float weights whose every quantizer was folded
        if t.name in removed and t.name not in used:
            g.initializer.remove(t)
    return len(removed)


def _bypass_identities(model: Any) -> None:
    """Consumers of ``Identity(initializer)`` (the exporter's dedup of equal tensors) read the initializer
    itself, and those Identity nodes go (unless one is a graph output), in place."""
    g = model.graph
    inits = {t.name for t in g.initializer}
    alias = {n.output[0]: n.input[0] for n in g.node if n.op_type == "Identity" and n.input[0] in inits}
    outputs = {o.name for o in g.output}
    for n in list(g.node):
        if n.op_type == "Identity" and n.output[0] in alias and n.output[0] not in outputs:
            g.node.remove(n)
    for n in g.node:
        n.input[:] = [alias.get(i, i) for i in n.input]


def compact_graph(model: Any) -> None:
    """Shrink the file without changing the computation, in place.

    Constant nodes become initializers; all-zero int8 zero points are shared (one per shape, named
    ``zp``, ``zp64``...); Q/DQ node names are shortened (``/stage1/0/0/in_q/Q``, ``.../w_q/DQ``);
    Identity nodes of initializers (the exporter's dedup of equal tensors) are bypassed; Conv
    attributes equal to ONNX's defaults (strides/dilations 1, group 1) are dropped;
    intermediate tensors get short names (``t0``, ``t1``, ...); int8 weights (``<module>.weight``),
    graph inputs/outputs and node names (TensorRT's layer names) are kept; ``value_info`` (shapes
    from shape inference, recomputable with ``onnx.shape_inference``) is dropped. The Q/DQ node
    names and the long scoped tensor names otherwise make up a third of a CGNet INT8 file.
    """
    from onnx import numpy_helper

    g = model.graph
    for n in list(g.node):
        if n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].name == "value":
            t = n.attribute[0].t
            t.name = n.output[0]
            g.initializer.append(t)
            g.node.remove(n)
    _bypass_identities(model)
    rename: dict[str, str] = {}
    shared: dict[tuple, str] = {}
    # zero points only: an all-zero int8 weight (weight decay zeroes whole 1x1 convs of CGNet) keeps its
    # own name
    zero_points = {n.input[2] for n in g.node if n.op_type in _QDQ_SHORT and len(n.input) > 2}
    zero_points -= {n.input[0] for n in g.node if n.op_type == "DequantizeLinear"}
    for t in list(g.initializer):
        if t.name not in zero_points:
            continue
        a = numpy_helper.to_array(t)
        if a.dtype == np.int8 and a.size <= 4096 and not a.any():
            key = a.shape
            if key in shared:
                rename[t.name] = shared[key]
                g.initializer.remove(t)
                continue
            shared[key] = rename[t.name] = f"zp{'x'.join(map(str, a.shape))}"
    dq_inputs = {n.input[0] for n in g.node if n.op_type == "DequantizeLinear"}
    keep = {i.name for i in g.input} | {o.name for o in g.output}
    keep |= {
        t.name for t in g.initializer if t.data_type == 3 and t.name in dq_inputs
    }  # int8 weights keep names
    counter = 0

    def short(name: str) -> str:
        nonlocal counter
        if not name or name in keep:
            return name
        if name not in rename:
            rename[name] = f"t{counter}"
            counter += 1
        return rename[name]

    for t in g.initializer:
        t.name = short(t.name)
    for n in g.node:
        n.input[:] = [short(i) for i in n.input]
        n.output[:] = [short(o) for o in n.output]
        if n.op_type in _QDQ_SHORT:
            n.name = _short_qdq_name(n.name, n.op_type)
        if n.op_type in ("Conv", "ConvTranspose"):  # drop attributes equal to ONNX's defaults
            for a in list(n.attribute):
                if (a.name in ("dilations", "strides") and all(v == 1 for v in a.ints)) or (
                    a.name == "group" and a.i == 1
                ):
                    n.attribute.remove(a)
    del g.value_info[:]


_QDQ_SHORT = {"QuantizeLinear": "Q", "DequantizeLinear": "DQ"}
_QUANTIZER_SHORT = {"input_quantizer": "in_q", "weight_quantizer": "w_q", "residual_quantizer": "res_q"}


def _short_qdq_name(name: str, op: str) -> str:
    """'/stage1/0/0/input_quantizer/QuantizeLinear' -> '/stage1/0/0/in_q/Q' (half the bytes of 330 nodes)."""
    parts = name.split("/")
    if parts and parts[-1].startswith(op):
        parts[-1] = _QDQ_SHORT[op] + parts[-1][len(op) :]
    return "/".join(_QUANTIZER_SHORT.get(p, p) for p in parts)


def flat_for_export(qmodel: nn.Module) -> nn.Module:
    """A GraphModule whose leaf modules are direct children named by their path with "/".

    The TorchScript exporter names ONNX nodes after the *calling* module's scope; a traced
    GraphModule calls its leaves directly, so nodes would be named "/conv.0_3/Conv". With the
    full path as the child's name they read "/stage2/0/conv/0/Conv" (TensorRT's layer names).
    The modules (and their weights) are shared, not copied.
    """
    import torch.fx as fx

    if not isinstance(qmodel, fx.GraphModule):
        return qmodel
    root = nn.Module()
    graph = fx.Graph()
    env: dict = {}
    for node in qmodel.graph.nodes:
        new = graph.node_copy(node, lambda n: env[n])
        if node.op in ("call_module", "get_attr"):
            flat = str(node.target).replace(".", "/")
            if node.op == "call_module":
                if not hasattr(root, flat):
                    root.add_module(flat, qmodel.get_submodule(node.target))
            else:
                obj = qmodel
                for a in str(node.target).split("."):
                    obj = getattr(obj, a)
                if not hasattr(root, flat):
                    if isinstance(obj, nn.Parameter):
                        root.register_parameter(flat, obj)
                    else:
                        root.register_buffer(flat, obj)
            new.target = flat
        env[node] = new
    return fx.GraphModule(root, graph, "Flat" + type(qmodel).__name__)


def qdq_summary(model: Any) -> dict[str, Any]:
    """Counts for reports: Q and DQ nodes, int8 weight initializers, quantized ops, ops left in float."""
    from collections import Counter

    from onnx import TensorProto

    from edgeseg.quant.qdq_check import count_quantized_ops

    ops = Counter(n.op_type for n in model.graph.node)
    dq_in = {n.input[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    float_ops = {
        k: v
        for k, v in sorted(ops.items())
        if k not in ("QuantizeLinear", "DequantizeLinear", "Constant", "Identity")
    }
    return {
        "quantize_linear": ops.get("QuantizeLinear", 0),
        "dequantize_linear": ops.get("DequantizeLinear", 0),
        "int8_weights": sum(
            1 for t in model.graph.initializer if t.data_type == TensorProto.INT8 and t.name in dq_in
        ),
        "quantized_ops": count_quantized_ops(model),
        "ops": float_ops,
    }


def export_qdq_onnx(
    qmodel: nn.Module,
    card: ModelCard,
    path: str | os.PathLike,
    *,
    size: tuple[int, int] | None = None,
    batch: int = 1,
    dynamic: bool = False,
    fold_weights: bool = True,
    allow_float: Collection[str] = (),
    head: str = "logits",
    cast_fp16: bool = False,
) -> Path:
    """Export ``qmodel`` (from ``placement.prepare``, calibrated) to ``path`` and check its Q/DQ.

    Defaults: ``size`` = card.input_size, batch 1, static shapes, int8 weight initializers.
    Raises QuantizationError listing the violations (and writes nothing) when the graph breaks a rule;
    ``allow_float`` op types may stay wholly in float (see ``check_qdq``), and so may the layers a
    mixed-precision model leaves in float (``edgeseg.quant.mixed.with_float_layers``); with
    ``cast_fp16`` (default False) those are wrapped in explicit FP16 Casts for strongly typed TensorRT 11.
    ``head`` (default "logits"; ``edgeseg.export.head``): "labels" / "labels-lowres" end the graph in a
    uint8 label map after the last DequantizeLinear (``card.extra["head"]``).
    """
    import onnx

    from edgeseg.export.onnx import export_onnx
    from edgeseg.quant.calibrate import is_calibrated
    from edgeseg.quant.fakequant import refresh_weight_ranges, set_mode
    from edgeseg.quant.qdq_check import check_qdq, format_violations

    out = check_output_path(path)
    if not is_calibrated(qmodel):
        raise QuantizationError("the model has uncalibrated activation quantizers; calibrate before export")
    set_mode(qmodel, "quant")
    refresh_weight_ranges(qmodel)
    with atomic_path(out) as tmp:
        flat = flat_for_export(qmodel)
        if head == "labels-lowres":
            from edgeseg.quant.qdq_head import WithLowres

            flat = WithLowres(flat)
        export_onnx(flat, card, tmp, size=size, batch=batch, dynamic=dynamic, head=head)
        proto = onnx.load(str(tmp))
        from edgeseg.quant.mixed import float_layers, onnx_nodes

        floats = float_layers(qmodel)
        float_nodes = onnx_nodes(proto, floats) if floats else []
        if cast_fp16 and float_nodes:
            from edgeseg.quant.mixed_fp16 import cast_layers_fp16

            cast_layers_fp16(proto, float_nodes)
        if fold_weights:
            fold_weight_quantizers(proto)
            compact_graph(proto)
            try:
                onnx.checker.check_model(proto, full_check=True)
            except Exception as e:  # noqa: BLE001
                raise QuantizationError(f"the Q/DQ graph with int8 weights failed onnx.checker: {e}") from e
        violations = check_qdq(proto, allow_float=allow_float, allow_float_nodes=float_nodes)
        if violations:
            raise QuantizationError(
                f"the exported graph breaks {len(violations)} TensorRT Q/DQ rule(s); nothing was written:\n"
                + format_violations(violations, limit=20)
                + (
                    "\n(ops that edgeseg cannot quantize, e.g. PSPNet's pooling MatMuls, "
                    "may stay in float with --allow-float OP)"
                    if any(v.rule in ("unquantized-input", "missing-weight-quantizer") for v in violations)
                    else ""
                )
            )
        atomic_write_bytes(tmp, proto.SerializeToString())
    return out
