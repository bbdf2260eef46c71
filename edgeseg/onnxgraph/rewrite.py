"""Float-graph rewrites for ONNX Runtime's CPU kernels: each computes the same function.

``rewrite_for_cpu`` runs, in order:
0. ``inline_constants``: Identity-of-initializer (the exporter's de-duplicated weights) and Constant
   nodes become initializers, so the rewrites below see every parameter;
1. ``concat.split_through_concat``: BN/PReLU after a channel Concat move onto each input;
2. ``prelu.prelu_to_fast_form``: PReLU as NCHWc-friendly ops (or LeakyRelu for one slope);
3. ``concat.split_conv_over_concat``: a Conv over an unaligned Concat becomes a sum of Convs.
The builds check the rewritten graph's outputs against the original (``check_same``, the comparator's
"rewrite" tolerance).
"""

from __future__ import annotations

from typing import Any


def inline_constants(model: Any) -> int:
    """Turn ``Identity(initializer)`` and ``Constant`` (tensor value) nodes into initializers, in place;
    returns how many nodes went. Graph outputs are never touched."""
    from onnx import numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    outputs = {o.name for o in graph.output}
    keep, count = [], 0
    for n in graph.node:
        value = None
        if n.output[0] not in outputs and n.domain in ("", "ai.onnx"):
            if n.op_type == "Identity" and n.input[0] in inits:
                value = numpy_helper.to_array(inits[n.input[0]])
            elif n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].name == "value":
                value = numpy_helper.to_array(n.attribute[0].t)
        if value is None:
            keep.append(n)
            continue
        t = numpy_helper.from_array(value, n.output[0])
        graph.initializer.append(t)
        inits[t.name] = t
        count += 1
    del graph.node[:]
    graph.node.extend(keep)
    return count


def rewrite_for_cpu(model: Any, *, prelu_only: bool = False) -> list[str]:
    """Rewrite ``model`` (onnx.ModelProto) in place; returns one line per rewrite that changed it
    (inlining constants alone is not reported). ``prelu_only`` (default False) keeps the Concat
    rewrites out: for Q/DQ graphs, where moving float ops across a Concat would move them across
    the quantization points around it."""
    from edgeseg.onnxgraph.concat import split_conv_over_concat, split_through_concat
    from edgeseg.onnxgraph.prelu import prelu_to_fast_form
    from edgeseg.export.onnx import zero_subnormal_initializers

    inline_constants(model)
    done: list[str] = []
    n = zero_subnormal_initializers(model)  # exports from elsewhere may carry them: slow on x86
    if n:
        done.append(f"{n} subnormal weight values (|w| < 1.2e-38) set to 0")
    n = 0 if prelu_only else split_through_concat(model)
    if n:
        done.append(f"BatchNormalization/PRelu moved before Concat ({n} concats)")
    forms = prelu_to_fast_form(model)
    if forms["scale_relu_add"]:
        done.append(f"PRelu -> slope*x + Relu((1-slope)*x) ({forms['scale_relu_add']} nodes)")
    if forms["leakyrelu"]:
        done.append(f"PRelu with one slope -> LeakyRelu ({forms['leakyrelu']} nodes)")
    if forms["relu_sub"]:
        done.append(f"PRelu -> Relu(x) - slope*Relu(-x) ({forms['relu_sub']} nodes)")
    n = 0 if prelu_only else split_conv_over_concat(model)
    if n:
        done.append(f"Conv over an unaligned Concat -> sum of Convs ({n} convs)")
    return done


def check_same(
    original: Any, rewritten: Any, *, input_name: str, shape: tuple[int, ...], seed: int = 0
) -> float:
    """Run both graphs (no ORT optimizations) on one random input; return the max abs difference,
    raising ``BuildError`` when ``edgeseg.export.compare`` finds it beyond the "rewrite" tolerance."""
    import numpy as np
    import onnxruntime as ort

    from edgeseg.errors import BuildError
    from edgeseg.export.compare import compare

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    x = np.random.default_rng(seed).random(shape, dtype=np.float32)
    outs = []
    for m in (original, rewritten):
        sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
        y = sess.run(None, {input_name: x})[0]
        outs.append(
            y if y.dtype.kind in "iub" else y.astype(np.float32)
        )  # a labels head's uint8 map as it is
    res = compare(outs[0], outs[1], tolerance="rewrite")
    if not res.passed:
        raise BuildError(
            f"graph rewrite changed the outputs ({res.summary()}); "
            "build again with --no-rewrite and report this model"
        )
    return res.max_abs_diff


def probe_shape(dims: Any, input_size: Any) -> tuple[int, ...]:
    """A concrete (N, C, H, W) for the parity probe: static dims as they are, dynamic ones 1 / the card's
    size."""
    fallback = (1, 3, *input_size)
    return tuple(d if isinstance(d, int) and d > 0 else fallback[k] for k, d in enumerate(dims))
