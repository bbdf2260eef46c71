"""PRelu in forms ONNX Runtime's CPU kernels run fast, each the same function.

Profiling the CGNet ONNX in ONNX Runtime (CPU) put its 54 PRelu nodes at ~50-60 % of all node
time: the PRelu kernel is slow and, with a per-channel slope, not an NCHWc op, so every one also
costs two layout reorders. ``prelu_to_fast_form`` picks per node:

- one slope for all channels: ``LeakyRelu(alpha=slope)``, which ORT fuses into the convolution;
- per-channel slopes a <= 1 (PReLU's usual range): ``a*x + Relu((1-a)*x)``, written as two
  per-channel BatchNormalization scalings, a Relu and an Add: all NCHWc ops, so the data stays in
  the blocked layout, the Relu fuses into the second scaling and the Add into the first;
- any other slope: ``Relu(x) - a*Relu(-x)``.

Used by the ONNX Runtime build (float graphs) and the OpenVINO build (float and Q/DQ graphs: OpenVINO's
CPU plugin runs a per-channel PRelu in planar layout, so each one cost it two reorders; a Q/DQ
graph's PRelu sits between quantization points, and the build's parity check against the graph as
quantized guards the result). TensorRT has a native PReLU layer and gets the graph as exported.
"""

from __future__ import annotations

from typing import Any


def _bn(helper: Any, numpy_helper: Any, graph: Any, x: str, y: str, scale: Any, name: str) -> Any:
    """BatchNormalization computing ``scale * x`` per channel exactly (mean 0, var 1, epsilon 0)."""
    import numpy as np

    c = scale.size
    vals = {
        "scale": scale.astype(np.float32),
        "bias": np.zeros(c, np.float32),
        "mean": np.zeros(c, np.float32),
        "var": np.ones(c, np.float32),
    }
    names = []
    for k, v in vals.items():
        graph.initializer.append(numpy_helper.from_array(v, f"{name}_{k}"))
        names.append(f"{name}_{k}")
    return helper.make_node("BatchNormalization", [x, *names], [y], name=name, epsilon=0.0)


def prelu_to_fast_form(model: Any) -> dict[str, int]:
    """Rewrite every PRelu whose slope is an initializer, in place. Returns the count per form:
    ``{"leakyrelu": n, "scale_relu_add": n, "relu_sub": n}``."""
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    counts = {"leakyrelu": 0, "scale_relu_add": 0, "relu_sub": 0}
    new_nodes = []
    for k, node in enumerate(graph.node):
        if node.op_type != "PRelu" or node.domain not in ("", "ai.onnx") or node.input[1] not in inits:
            new_nodes.append(node)
            continue
        x, y = node.input[0], node.output[0]
        slope = numpy_helper.to_array(inits[node.input[1]])
        base = f"{node.name or y}_prelu{k}"
        if slope.size == 1:
            new_nodes.append(
                helper.make_node(
                    "LeakyRelu", [x], [y], name=f"{base}_leaky", alpha=float(slope.reshape(-1)[0])
                )
            )
            counts["leakyrelu"] += 1
        elif float(slope.max()) <= 1.0 and slope.ndim == 3 and slope.size == slope.shape[0]:
            # (C, 1, 1): per channel of an NCHW tensor, the axis BatchNormalization scales. A (C,)
            # slope broadcasts over the LAST axis instead, so it takes the general form below.
            a = slope.reshape(-1)
            new_nodes += [
                _bn(helper, numpy_helper, graph, x, f"{base}_ax", a, f"{base}_a"),
                _bn(helper, numpy_helper, graph, x, f"{base}_bx", 1.0 - a, f"{base}_1ma"),
                helper.make_node("Relu", [f"{base}_bx"], [f"{base}_rbx"], name=f"{base}_relu"),
                helper.make_node("Add", [f"{base}_ax", f"{base}_rbx"], [y], name=f"{base}_add"),
            ]
            counts["scale_relu_add"] += 1
        else:
            new_nodes += _relu_sub(helper, x, node.input[1], y, base)
            counts["relu_sub"] += 1
    del graph.node[:]
    graph.node.extend(new_nodes)
    used = {i for n in graph.node for i in n.input}
    keep = [t for t in graph.initializer if t.name in used or t.name in {o.name for o in graph.output}]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    return counts


def _relu_sub(helper: Any, x: str, slope: str, y: str, base: str) -> list[Any]:
    pos, neg, negrelu, scaled = (f"{base}_{s}" for s in ("pos", "neg", "negrelu", "scaled"))
    return [
        helper.make_node("Relu", [x], [pos], name=f"{base}_relu"),
        helper.make_node("Neg", [x], [neg], name=f"{base}_neg"),
        helper.make_node("Relu", [neg], [negrelu], name=f"{base}_relu_neg"),
        helper.make_node("Mul", [slope, negrelu], [scaled], name=f"{base}_mul"),
        helper.make_node("Sub", [pos, scaled], [y], name=f"{base}_sub"),
    ]
