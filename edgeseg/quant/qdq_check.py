"""Static Q/DQ rule checker for TensorRT explicit-quantization (INT8) ONNX graphs.

``check_qdq(model_or_path)`` returns a list of :class:`Violation` (empty: the graph follows the
rules). Rules (``Violation.rule``):

- ``asymmetric``: a non-zero zero point, or a uint8 Q/DQ (TensorRT INT8 is symmetric, int8, zp 0).
- ``int8-range``: a Q/DQ whose quantized type is not int8 (int16, int4, float8, int32 ...).
- ``scale``: a scale that is not a constant, is <= 0 or is not finite.
- ``missing-weight-quantizer``: a Conv / ConvTranspose / Gemm / MatMul whose weight is not fed by a
  DequantizeLinear of a constant (int8 initializer, or Q of a float initializer).
- ``unquantized-input``: such an op whose activation input does not come from a DequantizeLinear.
- ``dangling-q``: a QuantizeLinear not followed (only) by DequantizeLinear.
- ``dq-without-q``: a DequantizeLinear of an activation (not a constant) that no QuantizeLinear feeds.
- ``per-tensor-weight``: a weight with one scale where per-output-channel scales are expected.
- ``weight-axis``: per-channel weight scales on another axis than the output channels
  (Conv: 0; ConvTranspose: 1; Gemm: 0 with transB=1, else 1; MatMul: the last axis), or a scale
  count that does not match the channels.

A MatMul with no constant operand (activation x activation) needs both inputs quantized and has
no weight rules. ``allow_float`` names op types that may stay entirely in float (no DequantizeLinear
on any input), e.g. "MatMul" for PSPNet's exact adaptive pooling; a partly quantized op is still checked.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Collection

import numpy as np

from edgeseg.errors import QuantizationError

WEIGHTED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
RULES = (
    "asymmetric",
    "int8-range",
    "scale",
    "missing-weight-quantizer",
    "unquantized-input",
    "dangling-q",
    "dq-without-q",
    "per-tensor-weight",
    "weight-axis",
)


@dataclass(frozen=True)
class Violation:
    """One broken rule: ``rule`` (see RULES), the offending ``node`` name, a one-line ``message``."""

    rule: str
    node: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class _Graph:
    def __init__(self, model: Any) -> None:
        from onnx import TensorProto, numpy_helper

        g = model.graph
        self.nodes = list(g.node)
        self.producer = {o: n for n in self.nodes for o in n.output if o}
        self.consumers: dict[str, list] = {}
        for n in self.nodes:
            for i in n.input:
                if i:
                    self.consumers.setdefault(i, []).append(n)
        self.outputs = {o.name for o in g.output}
        self.const: dict[str, np.ndarray] = {}
        self.const_type: dict[str, int] = {}
        for t in g.initializer:
            self.const[t.name] = numpy_helper.to_array(t)
            self.const_type[t.name] = t.data_type
        for n in self.nodes:
            if n.op_type == "Constant":
                for a in n.attribute:
                    if a.name == "value":
                        self.const[n.output[0]] = numpy_helper.to_array(a.t)
                        self.const_type[n.output[0]] = a.t.data_type
        self.INT8, self.UINT8 = TensorProto.INT8, TensorProto.UINT8

    def is_const(self, name: str) -> bool:
        if name in self.const:
            return True
        p = self.producer.get(name)
        return p is not None and p.op_type == "Identity" and bool(p.input) and self.is_const(p.input[0])

    def value(self, name: str) -> np.ndarray | None:
        if name in self.const:
            return self.const[name]
        p = self.producer.get(name)
        if p is not None and p.op_type == "Identity" and p.input:
            return self.value(p.input[0])
        return None


def _name(n: Any) -> str:
    return n.name or f"{n.op_type}({n.output[0] if n.output else '?'})"


def _attr(n: Any, key: str, default: Any) -> Any:
    from onnx import helper

    for a in n.attribute:
        if a.name == key:
            return helper.get_attribute_value(a)
    return default


def _check_qdq_node(g: _Graph, n: Any) -> list[Violation]:
    out = []
    nm = _name(n)
    scale = g.value(n.input[1]) if len(n.input) > 1 else None
    if scale is None:
        out.append(
            Violation(
                "scale",
                nm,
                f"{n.op_type} scale {n.input[1] if len(n.input) > 1 else '(none)'} is not a constant",
            )
        )
    elif not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        bad = scale[~np.isfinite(scale) | (scale <= 0)].ravel()[:3].tolist()
        out.append(Violation("scale", nm, f"{n.op_type} has scale(s) {bad}: scales must be finite and > 0"))
    zp_name = n.input[2] if len(n.input) > 2 and n.input[2] else None
    if zp_name is None:
        if n.op_type == "QuantizeLinear" and _attr(n, "output_dtype", 0) in (0, g.UINT8):
            out.append(
                Violation(
                    "asymmetric",
                    nm,
                    "QuantizeLinear without zero point quantizes to uint8; "
                    "TensorRT needs an int8 zero point of 0",
                )
            )
        if n.op_type == "DequantizeLinear":
            dt = g.const_type.get(n.input[0])
            if dt is not None and dt != g.INT8:
                out.append(_type_violation(g, nm, n.op_type, dt))
        return out
    zp = g.value(zp_name)
    dt = g.const_type.get(zp_name)
    if dt is None and zp_name in g.producer and g.producer[zp_name].op_type == "Identity":
        dt = g.const_type.get(g.producer[zp_name].input[0])
    if dt == g.UINT8:
        out.append(
            Violation(
                "asymmetric",
                nm,
                f"{n.op_type} uses uint8 (asymmetric) quantization; TensorRT needs int8 with zero point 0",
            )
        )
    elif dt is not None and dt != g.INT8:
        out.append(_type_violation(g, nm, n.op_type, dt))
    if zp is None:
        out.append(Violation("asymmetric", nm, f"{n.op_type} zero point {zp_name} is not a constant"))
    elif np.any(zp != 0):
        out.append(
            Violation(
                "asymmetric",
                nm,
                f"{n.op_type} has non-zero zero point(s) {np.unique(zp)[:3].tolist()}; "
                "TensorRT INT8 is symmetric (zero point 0)",
            )
        )
    return out


def _type_violation(g: _Graph, nm: str, op: str, dt: int) -> Violation:
    from onnx import helper

    return Violation(
        "int8-range",
        nm,
        f"{op} quantizes to {helper.tensor_dtype_to_string(dt)}; TensorRT INT8 Q/DQ must be int8 [-128, 127]",
    )


def _weight_axis(n: Any, rank: int) -> int:
    if n.op_type == "Conv":
        return 0
    if n.op_type == "ConvTranspose":
        return 1
    if n.op_type == "Gemm":
        return 0 if _attr(n, "transB", 0) else 1
    return rank - 1  # MatMul: B is (..., K, N)


def _check_weighted(g: _Graph, n: Any) -> list[Violation]:
    out = []
    nm = _name(n)
    if n.op_type == "MatMul":
        consts = [i for i, x in enumerate(n.input[:2]) if _weight_source(g, x) is not None or g.is_const(x)]
        w_idx = 1 if 1 in consts else (0 if consts else None)
        act_idx = [i for i in range(2) if i != w_idx]
    else:
        w_idx, act_idx = 1, [0]
    for i in act_idx:
        p = g.producer.get(n.input[i])
        if p is None or p.op_type != "DequantizeLinear":
            src = p.op_type if p is not None else "a graph input"
            out.append(
                Violation(
                    "unquantized-input",
                    nm,
                    f"{n.op_type} input {i} ({n.input[i]}) comes from {src}, "
                    "not from a DequantizeLinear: the op would run in float",
                )
            )
    if w_idx is None:
        return out
    w = n.input[w_idx]
    dq = g.producer.get(w)
    src = _weight_source(g, w)
    if dq is None or dq.op_type != "DequantizeLinear" or src is None:
        out.append(
            Violation(
                "missing-weight-quantizer",
                nm,
                f"{n.op_type} weight {w} is not a DequantizeLinear of a "
                "constant (int8 initializer or Q of a float initializer)",
            )
        )
        return out
    wval = g.value(src)
    scale = g.value(dq.input[1])
    if wval is None or scale is None:
        return out
    axis = _weight_axis(n, wval.ndim)
    channels = wval.shape[axis] if wval.ndim else 1
    if scale.size == 1 and channels > 1:
        out.append(
            Violation(
                "per-tensor-weight",
                nm,
                f"{n.op_type} weight {w} has one scale for {channels} output "
                f"channels; expected per-channel scales on axis {axis}",
            )
        )
        return out
    got = _attr(dq, "axis", 1)
    got = got + wval.ndim if got < 0 else got
    if scale.size != 1 and (got != axis or scale.size != channels):
        out.append(
            Violation(
                "weight-axis",
                nm,
                f"{n.op_type} weight {w} is quantized along axis {got} with "
                f"{scale.size} scales; expected axis {axis} ({channels} output channels)",
            )
        )
    return out


def _weight_source(g: _Graph, name: str) -> str | None:
    """The constant behind a weight DQ (the int8 initializer, or the float one behind a Q)."""
    dq = g.producer.get(name)
    if dq is None or dq.op_type != "DequantizeLinear":
        return None
    x = dq.input[0]
    if g.is_const(x):
        return x
    q = g.producer.get(x)
    if q is not None and q.op_type == "QuantizeLinear" and g.is_const(q.input[0]):
        return q.input[0]
    return None


def check_qdq(
    model_or_path: Any, *, allow_float: Collection[str] = (), allow_float_nodes: Collection[str] = ()
) -> list[Violation]:
    """Check an ONNX model (path or ModelProto) against the TensorRT INT8 Q/DQ rules above.

    ``allow_float``: op types (of Conv, ConvTranspose, Gemm, MatMul) allowed to run wholly in float.
    ``allow_float_nodes``: node names allowed to run wholly in float (mixed precision's documented
    fallback layers, ``card.extra["quantization"]["mixed"]``); default none.
    """
    unknown = set(allow_float) - set(WEIGHTED_OPS)
    if unknown:
        raise QuantizationError(
            f"allow_float: {sorted(unknown)} are not checked ops; expected some of {WEIGHTED_OPS}"
        )
    import onnx

    model = model_or_path
    if not hasattr(model, "graph"):
        p = os.fspath(model_or_path)
        if not os.path.isfile(p):
            raise QuantizationError(f"{p}: file not found")
        try:
            model = onnx.load(p)
        except Exception as e:  # noqa: BLE001 - protobuf raises several kinds
            raise QuantizationError(f"{p}: not a readable ONNX model ({e.__class__.__name__})") from e
    g = _Graph(model)
    out: list[Violation] = []
    for n in g.nodes:
        nm = _name(n)
        if n.op_type in ("QuantizeLinear", "DequantizeLinear"):
            out += _check_qdq_node(g, n)
        if n.op_type == "QuantizeLinear":
            users = g.consumers.get(n.output[0], [])
            if not users or any(u.op_type != "DequantizeLinear" for u in users) or n.output[0] in g.outputs:
                what = (
                    ", ".join(sorted({u.op_type for u in users if u.op_type != "DequantizeLinear"}))
                    or "nothing"
                )
                out.append(
                    Violation(
                        "dangling-q",
                        nm,
                        f"QuantizeLinear output feeds {what}; every Q must be followed by DequantizeLinear",
                    )
                )
        elif n.op_type == "DequantizeLinear":
            x = n.input[0]
            p = g.producer.get(x)
            if not g.is_const(x) and (p is None or p.op_type != "QuantizeLinear"):
                src = p.op_type if p is not None else "a graph input"
                out.append(
                    Violation(
                        "dq-without-q",
                        nm,
                        f"DequantizeLinear of activation {x} from {src} with no QuantizeLinear before it",
                    )
                )
        elif n.op_type in WEIGHTED_OPS:
            if (n.op_type in allow_float or n.name in allow_float_nodes) and not any(
                (p := g.producer.get(i)) is not None and p.op_type == "DequantizeLinear" for i in n.input if i
            ):
                continue  # left in float on purpose
            out += _check_weighted(g, n)
    return out


def count_qdq_nodes(model_or_path: Any) -> int:
    """Number of QuantizeLinear/DequantizeLinear nodes (0: a float model, nothing for the rules to check)."""
    import onnx

    model = (
        model_or_path
        if hasattr(model_or_path, "graph")
        else onnx.load(os.fspath(model_or_path), load_external_data=False)
    )
    return sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node)


def count_quantized_ops(model_or_path: Any) -> int:
    """Number of Conv/ConvTranspose/Gemm/MatMul nodes whose inputs all come from DequantizeLinear."""
    import onnx

    model = model_or_path if hasattr(model_or_path, "graph") else onnx.load(os.fspath(model_or_path))
    g = _Graph(model)
    n_ok = 0
    for n in g.nodes:
        if n.op_type in WEIGHTED_OPS:
            ins = n.input[:2]
            if all((p := g.producer.get(i)) is not None and p.op_type == "DequantizeLinear" for i in ins):
                n_ok += 1
    return n_ok


def format_violations(violations: list[Violation], *, limit: int = 50) -> str:
    """Fixed-width table: rule, node, message (first ``limit`` rows)."""
    if not violations:
        return ""
    w_rule = max(len("rule"), *(len(v.rule) for v in violations))
    w_node = min(60, max(len("node"), *(len(v.node) for v in violations)))
    lines = [f"{'rule':<{w_rule}}  {'node':<{w_node}}  message", f"{'-' * w_rule}  {'-' * w_node}  {'-' * 7}"]
    for v in violations[:limit]:
        node = v.node if len(v.node) <= w_node else "..." + v.node[-(w_node - 3) :]
        lines.append(f"{v.rule:<{w_rule}}  {node:<{w_node}}  {v.message}")
    if len(violations) > limit:
        lines.append(f"... and {len(violations) - limit} more")
    return "\n".join(lines)
