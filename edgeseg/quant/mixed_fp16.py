"""Explicit FP16 for the float layers of a mixed-precision Q/DQ ONNX (strongly typed TensorRT, 11.x).

A strongly typed network runs each layer at its tensors' types, so a layer left without Q/DQ would
run FP32 there (TensorRT 8.6/10.x run it FP16 when the engine is built with the FP16 flag, which
edgeseg's Q/DQ build path sets). :func:`cast_layers_fp16` makes FP16 explicit, in place: for each
named node (Conv / ConvTranspose / Gemm / MatMul), its activation input goes through
``Cast(to=FLOAT16)``, its float initializers (weight, bias) are stored as FP16 copies, and its output
is cast back with ``Cast(to=FLOAT)`` under the original name, so the rest of the graph is unchanged.
"""

from __future__ import annotations

from typing import Any, Collection

from edgeseg.errors import QuantizationError


def cast_layers_fp16(model: Any, nodes: Collection[str]) -> int:
    """Wrap the nodes named ``nodes`` of ``model`` (a ModelProto) in FP16 casts, in place; returns the
    count."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    g = model.graph
    inits = {t.name: t for t in g.initializer}
    by_name = {n.name: n for n in g.node}
    missing = sorted(set(nodes) - set(by_name))
    if missing:
        raise QuantizationError(f"cast to FP16: no nodes named {missing[:3]} in the graph")
    made: dict[str, str] = {}
    done = 0
    for name in nodes:
        n = by_name[name]
        new_inputs = []
        for k, i in enumerate(n.input):
            if not i:
                new_inputs.append(i)
            elif i in inits and inits[i].data_type == TensorProto.FLOAT:
                if i not in made:
                    arr = numpy_helper.to_array(inits[i]).astype(np.float16)
                    made[i] = f"{i}_fp16"
                    g.initializer.append(numpy_helper.from_array(arr, made[i]))
                new_inputs.append(made[i])
            elif i in inits:
                raise QuantizationError(f"cast to FP16: {name} input {i} is not a float tensor")
            else:
                cast = f"{name}/cast_in{k}"
                g.node.append(
                    helper.make_node("Cast", [i], [f"{cast}_out"], name=cast, to=TensorProto.FLOAT16)
                )
                new_inputs.append(f"{cast}_out")
        n.input[:] = new_inputs
        out = n.output[0]
        n.output[0] = f"{out}_fp16"
        g.node.append(
            helper.make_node("Cast", [n.output[0]], [out], name=f"{name}/cast_out", to=TensorProto.FLOAT)
        )
        done += 1
    used = {i for m in g.node for i in m.input}
    for t in list(g.initializer):  # float originals only the cast layers used
        if t.name in made and t.name not in used:
            g.initializer.remove(t)
    _topological_sort(model)
    del g.value_info[:]
    return done


def _topological_sort(model: Any) -> None:
    """Reorder the nodes so that each comes after its inputs' producers (ONNX requires it)."""
    g = model.graph
    ready = {i.name for i in g.input} | {t.name for t in g.initializer} | {""}
    pending = list(g.node)
    ordered = []
    while pending:
        rest = []
        for n in pending:
            if all(i in ready for i in n.input):
                ordered.append(n)
                ready.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise QuantizationError(
                f"cast to FP16: the graph has a cycle or a missing input at {rest[0].name}"
            )
        pending = rest
    copies = [type(n)() for n in ordered]
    for c, n in zip(copies, ordered):
        c.CopyFrom(n)
    del g.node[:]
    g.node.extend(copies)
