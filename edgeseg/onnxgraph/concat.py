"""Push per-channel ops (BatchNormalization, PRelu) back through a channel Concat: the same function.

CGNet applies BN + PReLU to ``Concat([f_loc(x), f_sur(x)])`` in every block. Split per input, the
BN meets the convolution that produced each part and ONNX Runtime folds it into that convolution's
weights (its Conv+BN fusion), and the PReLU follows a convolution directly, where the CPU
kernels' NCHWc layout can keep it (``prelu.prelu_to_fast_form``). The concat's inputs must have a
known channel count (from ONNX shape inference); anything else is left as it is.
"""

from __future__ import annotations

from typing import Any

PER_CHANNEL_OPS = ("BatchNormalization", "PRelu")


def _consumers(graph: Any) -> dict[str, list[Any]]:
    users: dict[str, list[Any]] = {}
    for n in graph.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    return users


def _index(
    model: Any,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, list[Any]], set[str], dict[str, int]]:
    """(initializers by name, producer node by output, consumers by input, graph output names, channels)."""
    graph = model.graph
    return (
        {t.name: t for t in graph.initializer},
        {o: n for n in graph.node for o in n.output},
        _consumers(graph),
        {o.name for o in graph.output},
        _channels(model),
    )


def _channels(model: Any) -> dict[str, int]:
    """Channel count (dim 1) of every tensor ONNX shape inference can tell."""
    from onnx import shape_inference

    inferred = shape_inference.infer_shapes(model)
    out: dict[str, int] = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if len(dims) >= 2 and dims[1].HasField("dim_value"):
            out[vi.name] = dims[1].dim_value
    return out


def _per_channel_slope(slope: Any) -> bool:
    """A PRelu slope that is one value, or one per channel of an NCHW tensor (shape (C, 1, 1)); a (C,)
    slope broadcasts over the last axis, not the channels, and cannot be split with the concat."""
    return slope.size == 1 or (slope.ndim == 3 and slope.shape[1:] == (1, 1))


def _split_param(arr: Any, sizes: list[int]) -> list[Any] | None:
    """Split a per-channel parameter (shape (C,), (C,1,1), ... or a single value) into parts."""
    flat = arr.reshape(-1)
    total = sum(sizes)
    if flat.size == 1:
        return [arr] * len(sizes)
    if flat.size != total:
        return None
    parts, off = [], 0
    for c in sizes:
        shape = (c,) + tuple(arr.shape[1:]) if arr.shape and arr.shape[0] == total else (c,)
        parts.append(flat[off : off + c].reshape(shape))
        off += c
    return parts


def split_through_concat(model: Any) -> int:
    """Rewrite ``Concat(a, b, ...) -> BN? -> PRelu?`` into ``Concat(PRelu(BN(a)), PRelu(BN(b)), ...)``
    in place, for channel concats (axis 1) whose chain has one consumer per step and whose parameters
    are initializers. Returns how many concats were rewritten."""
    from onnx import helper, numpy_helper

    graph = model.graph
    inits, producers, users, graph_outputs, channels = _index(model)
    replace: dict[int, list[Any]] = {}  # id(node) -> nodes that take its place ([] = removed)
    count = 0
    for cat in graph.node:
        axis = next((a.i for a in cat.attribute if a.name == "axis"), None)
        if cat.op_type != "Concat" or axis not in (1, -3) or id(cat) in replace:
            continue
        chain, tail = [], cat.output[0]
        while tail not in graph_outputs and len(users.get(tail, [])) == 1:
            nxt = users[tail][0]
            if nxt.op_type not in PER_CHANNEL_OPS or nxt.input[0] != tail or len(nxt.output) != 1:
                break
            if any(i not in inits for i in nxt.input[1:]) or nxt.op_type in [c.op_type for c in chain]:
                break
            if nxt.op_type == "PRelu" and not _per_channel_slope(numpy_helper.to_array(inits[nxt.input[1]])):
                break
            chain.append(nxt)
            tail = nxt.output[0]
        sizes = [channels.get(i) for i in cat.input]
        if not chain or any(s is None for s in sizes):
            continue
        split = {
            id(op): [_split_param(numpy_helper.to_array(inits[i]), sizes) for i in op.input[1:]]
            for op in chain
        }
        if any(p is None for parts in split.values() for p in parts):
            continue
        new_nodes, new_inputs = [], []
        for k, src in enumerate(cat.input):
            cur = src
            for op in chain:
                names = []
                for j, parts in enumerate(split[id(op)]):
                    name = f"{op.input[j + 1]}_cat{count}_part{k}"
                    graph.initializer.append(numpy_helper.from_array(parts[k].astype(parts[k].dtype), name))
                    names.append(name)
                out = f"{op.output[0]}_part{k}"
                node = helper.make_node(
                    op.op_type, [cur, *names], [out], name=f"{op.name or op.output[0]}_part{k}"
                )
                node.attribute.extend(op.attribute)
                new_nodes.append(node)
                cur = out
            new_inputs.append(cur)
        merged = helper.make_node("Concat", new_inputs, [tail], name=cat.name or f"concat_{count}", axis=1)
        replace[id(cat)] = new_nodes + [merged]
        for op in chain:
            replace[id(op)] = []
        count += 1
    _replace_nodes(graph, replace)
    return count


def _replace_nodes(graph: Any, replace: dict[int, list[Any]]) -> None:
    """Put ``replace[id(node)]`` (possibly empty) where each listed node was; drop unused initializers."""
    if not replace:
        return
    nodes = []
    for n in graph.node:
        nodes.extend(replace.get(id(n), [n]))
    del graph.node[:]
    graph.node.extend(nodes)
    _drop_unused_initializers(graph)


def _drop_unused_initializers(graph: Any) -> None:
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


def split_conv_over_concat(model: Any, *, block: int = 16) -> int:
    """Rewrite ``Conv(Concat(a, b, ...))`` as ``Conv_a(a) + Conv_b(b) + ...`` in place (the weight split
    along its input channels, the bias kept once), when the concat's channel total is not a multiple of
    ``block`` (default 16, the AVX-512 NCHWc block) so ONNX Runtime could not run that Conv in its
    blocked layout. The parts of aligned width then run blocked and the Adds fuse into them. Only
    dense (group 1) convolutions with initializer weights whose concat feeds nothing else. Returns how
    many convolutions were split."""
    from onnx import helper, numpy_helper

    graph = model.graph
    inits, producers, users, graph_outputs, channels = _index(model)
    replace: dict[int, list[Any]] = {}
    count = 0
    for conv in graph.node:
        if conv.op_type != "Conv" or len(conv.input) < 2 or conv.input[1] not in inits:
            continue
        if next((a.i for a in conv.attribute if a.name == "group"), 1) != 1:
            continue
        cat = producers.get(conv.input[0])
        if (
            cat is None
            or cat.op_type != "Concat"
            or next((a.i for a in cat.attribute if a.name == "axis"), None) not in (1, -3)
        ):
            continue
        if cat.output[0] in graph_outputs or len(users.get(cat.output[0], [])) != 1 or id(cat) in replace:
            continue
        sizes = [channels.get(i) for i in cat.input]
        if any(s is None for s in sizes) or sum(sizes) % block == 0 or not any(s % block == 0 for s in sizes):
            continue
        w = numpy_helper.to_array(inits[conv.input[1]])
        if w.shape[1] != sum(sizes):
            continue
        # aligned parts first so the small remainder's conv is the one the others add into last
        order = sorted(range(len(sizes)), key=lambda k: (sizes[k] % block != 0, k))
        offsets = [sum(sizes[:k]) for k in range(len(sizes))]
        nodes, acc = [], None
        for j, k in enumerate(order):
            wname = f"{conv.input[1]}_in{k}"
            graph.initializer.append(
                numpy_helper.from_array(w[:, offsets[k] : offsets[k] + sizes[k]].copy(), wname)
            )
            ins = [cat.input[k], wname] + ([conv.input[2]] if j == 0 and len(conv.input) > 2 else [])
            out = f"{conv.output[0]}_in{k}"
            part = helper.make_node("Conv", ins, [out], name=f"{conv.name or conv.output[0]}_in{k}")
            part.attribute.extend(conv.attribute)
            nodes.append(part)
            if acc is None:
                acc = out
            else:
                last = j == len(order) - 1
                total = conv.output[0] if last else f"{conv.output[0]}_sum{j}"
                nodes.append(
                    helper.make_node("Add", [out, acc], [total], name=f"{conv.name or conv.output[0]}_add{j}")
                )
                acc = total
        replace[id(cat)] = []
        replace[id(conv)] = nodes
        count += 1
    _replace_nodes(graph, replace)
    return count
