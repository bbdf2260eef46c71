"""Where the Q/DQ pairs go: TensorRT's explicit-quantization placement, applied to any edgeseg model.

``prepare(model)`` traces the model with ``torch.fx`` and returns a new module (the input is not
changed) in which

1. every BatchNorm that directly follows a Conv is folded into it (eval statistics), so the
   exported graph has Conv(+bias) and the INT8 weights are the folded weights TensorRT would run;
   a BatchNorm after a channel Concat of conv outputs (CGNet's F_loc/F_sur joint feature) is split
   by channels and folded into those convs; other BatchNorms (after a Concat with the pooled
   image, CGNet's stage joins) stay as they are (TensorRT runs them as scales). Per-channel weight
   quantization commutes with a per-channel scale, so folding never changes the INT8 weights' grid;
2. every Conv2d / ConvTranspose2d / Linear quantizes its weight per output channel;
3. every input of those ops gets a per-tensor activation quantizer; a tensor feeding several
   quantized ops (CGNet's F_loc and F_sur, DeepLab's ASPP branches) gets ONE shared quantizer,
   i.e. one Q/DQ pair with one scale;
4. a residual ``a + b`` where one side comes straight from a conv gets a quantizer on the other
   side (NVIDIA: "quantize the residual input" so the Add fuses into the conv's epilogue); when both
   sides are conv outputs the second one is quantized. Adds whose inputs are not conv outputs
   (CGNet's global residual after FGlo's Mul) stay in float;
5. Concat, pooling, Resize, PReLU/ReLU/Sigmoid and Mul are left unquantized: their consumers'
   input quantizers put the Q/DQ after them (TensorRT runs them in FP16/FP32 or propagates the Q).

Quantizer names are stable (``<conv>.input_quantizer``, ``<module>.residual_quantizer``,
``<conv>.weight_quantizer``), so a QAT checkpoint can store ranges by name.
"""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.fx as fx
import torch.nn as nn

from edgeseg.errors import QuantizationError
from edgeseg.quant.fakequant import QUANT_MODULES, TensorQuantizer, quantizers

_BN_TYPES = (nn.BatchNorm2d,)
_FOLDABLE = (nn.Conv2d, nn.ConvTranspose2d)
_PASSTHROUGH = (nn.Identity, nn.Dropout, nn.Dropout2d)
_ADD_TARGETS = {operator.add, operator.iadd, torch.add}


@dataclass
class Placement:
    """What ``prepare`` did: folded (conv, bn, first, stop) entries (the conv took BN channels
    first..stop-1), quantized op names, quantizer names."""

    folded: list[tuple[str, str, int, int]] = field(default_factory=list)
    weighted: list[str] = field(default_factory=list)
    input_quantizers: list[str] = field(default_factory=list)
    residual_quantizers: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "folded_bn": [list(p) for p in self.folded],
            "weighted": list(self.weighted),
            "input_quantizers": list(self.input_quantizers),
            "residual_quantizers": list(self.residual_quantizers),
        }


def _opaque_functions() -> tuple[Callable, ...]:
    """Helpers that read Python ints from tensor shapes: called as one op, not traced through."""
    fns: list[Callable] = []
    try:
        from edgeseg.models.classics import adaptive_avg_pool2d_exportable

        fns.append(adaptive_avg_pool2d_exportable)
    except ImportError:  # pragma: no cover - the classics are optional reference models
        pass
    return tuple(fns)


class _Tracer(fx.Tracer):
    def __init__(self) -> None:
        super().__init__(autowrap_functions=_opaque_functions())

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, TensorQuantizer) or type(m) in QUANT_MODULES.values():
            return True
        return super().is_leaf_module(m, qualname)


def trace(model: nn.Module) -> fx.GraphModule:
    """``torch.fx`` trace with edgeseg's leaf rules; a clear error when a model cannot be traced."""
    try:
        graph = _Tracer().trace(model)
    except Exception as e:  # noqa: BLE001 - fx raises TraceError, TypeError, ...
        name = type(model).__name__
        raise QuantizationError(
            f"cannot trace {name} with torch.fx to place quantizers: {str(e).splitlines()[0][:200]} "
            "(forward must not turn tensor values or shapes into Python numbers)"
        ) from e
    return fx.GraphModule(model, graph, type(model).__name__)


def _module(gm: fx.GraphModule, node: fx.Node) -> nn.Module | None:
    return gm.get_submodule(node.target) if node.op == "call_module" else None


def _set_module(gm: fx.GraphModule, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(gm.get_submodule(parent) if parent else gm, leaf, module)


def _sub_bn(bn: nn.BatchNorm2d, first: int, stop: int) -> nn.BatchNorm2d:
    sub = nn.BatchNorm2d(stop - first, eps=bn.eps).eval()
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(sub, name).copy_(getattr(bn, name)[first:stop])
    return sub


def _foldable_conv(gm: fx.GraphModule, node: Any, user: fx.Node) -> nn.Module | None:
    conv = _module(gm, node) if isinstance(node, fx.Node) else None
    if type(conv) not in _FOLDABLE or list(node.users) != [user]:
        return None
    return conv


def _cat_inputs(node: fx.Node) -> list | None:
    """The tensors of ``torch.cat(tensors, 1)``, or None for anything else."""
    if node.op != "call_function" or node.target is not torch.cat:
        return None
    tensors = node.args[0] if node.args else node.kwargs.get("tensors")
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
    return list(tensors) if dim in (1, -3) and isinstance(tensors, (list, tuple)) else None


def fold_batchnorm(gm: fx.GraphModule) -> list[tuple[str, str, int, int]]:
    """Fold each BatchNorm2d into the Conv before it, or into every Conv of a channel Concat
    before it (all inputs convs used only there). Returns (conv, bn, first, stop) entries."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded: list[tuple[str, str, int, int]] = []
    for node in list(gm.graph.nodes):
        bn = _module(gm, node)
        if not isinstance(bn, _BN_TYPES) or not node.args or not isinstance(node.args[0], fx.Node):
            continue
        if not (bn.track_running_stats and bn.affine and bn.running_mean is not None):
            continue
        src = node.args[0]
        if _foldable_conv(gm, src, node) is not None:
            parts, keep = [src], src
        else:
            ins = _cat_inputs(src)
            if ins is None or list(src.users) != [node] or not all(_foldable_conv(gm, i, src) for i in ins):
                continue
            if len({i.target for i in ins}) != len(ins):
                continue  # the same conv twice in one concat
            parts, keep = ins, src
        first = 0
        for part in parts:
            conv = _module(gm, part)
            ch = conv.out_channels
            sub = _sub_bn(bn, first, first + ch)
            fused = fuse_conv_bn_eval(conv.eval(), sub, transpose=isinstance(conv, nn.ConvTranspose2d))
            _set_module(gm, part.target, fused)
            folded.append((str(part.target), str(node.target), first, first + ch))
            first += ch
        if first != bn.num_features:
            raise QuantizationError(
                f"{node.target}: folding found {first} channels for a BatchNorm of {bn.num_features}"
            )
        node.replace_all_uses_with(keep)
        gm.graph.erase_node(node)
    return folded


def _source(gm: fx.GraphModule, node: Any) -> Any:
    """Look through Identity/Dropout modules to the node that really produced a value."""
    while isinstance(node, fx.Node) and isinstance(_module(gm, node), _PASSTHROUGH) and node.args:
        node = node.args[0]
    return node


def _is_weighted(gm: fx.GraphModule, node: Any) -> bool:
    return isinstance(node, fx.Node) and type(_module(gm, node)) in QUANT_MODULES.values()


def _scope(node: fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    return next(reversed(stack)) if stack else ""


def _unique(gm: fx.GraphModule, name: str) -> str:
    out, i = name, 1
    while True:
        try:
            gm.get_submodule(out)
        except AttributeError:
            return out
        out, i = f"{name}_{i}", i + 1


def prepare(model: nn.Module, *, fold_bn: bool = True) -> tuple[fx.GraphModule, Placement]:
    """Return (fake-quant model, placement). Activation quantizers start uncalibrated (NaN amax).

    ``model`` is deep-copied and put in eval mode first (BatchNorm folding uses running statistics).
    """
    src = copy.deepcopy(model).eval()
    if quantizers(src):
        raise QuantizationError("the model already has quantizers; pass the float model")
    gm = trace(src)
    info = Placement()
    if fold_bn:
        info.folded = fold_batchnorm(gm)

    # weighted modules -> quantized versions (weights quantized per output channel)
    done: set[str] = set()
    for node in gm.graph.nodes:
        m = _module(gm, node)
        qcls = QUANT_MODULES.get(type(m)) if m is not None else None
        if qcls is None or node.target in done:
            continue
        _set_module(gm, node.target, qcls.from_float(m, name=str(node.target)))
        done.add(str(node.target))
        info.weighted.append(str(node.target))

    # edges (consumer, arg index) whose value must be quantized, grouped by the producing value
    edges: dict[fx.Node, list[tuple[fx.Node, int, str]]] = {}
    for node in gm.graph.nodes:
        if _is_weighted(gm, node) and node.args and isinstance(node.args[0], fx.Node):
            edges.setdefault(node.args[0], []).append((node, 0, "input"))
        elif (
            node.op == "call_function"
            and node.target in _ADD_TARGETS
            or (node.op == "call_method" and node.target == "add")
        ):
            args = node.args[:2]
            if len(args) != 2 or not all(isinstance(a, fx.Node) for a in args):
                continue
            conv_side = [_is_weighted(gm, _source(gm, a)) for a in args]
            if not any(conv_side):
                continue
            idx = 1 if all(conv_side) else conv_side.index(False)
            edges.setdefault(args[idx], []).append((node, idx, "residual"))

    for value, uses in edges.items():
        first, _, kind = uses[0]
        if kind == "input":
            base = f"{first.target}.input_quantizer"
        else:
            scope = _scope(first)
            base = f"{scope}.residual_quantizer" if scope else "residual_quantizer"
        name = _unique(gm, base)
        where = ", ".join(
            f"{k} of {u.target if u.op == 'call_module' else (_scope(u) or u.name)}" for u, _, k in uses
        )
        gm.add_submodule(name, TensorQuantizer(where=where))
        with gm.graph.inserting_after(value):
            qnode = gm.graph.call_module(name, (value,))
        for user, idx, _ in uses:
            user.update_arg(idx, qnode)
        (info.residual_quantizers if kind == "residual" else info.input_quantizers).append(name)

    gm.graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    return gm, info


def float_state_dict(
    qmodel: nn.Module, float_model: nn.Module, placement: Placement
) -> dict[str, torch.Tensor]:
    """The fake-quant model's current weights as a state dict of the plain float architecture.

    A folded BatchNorm is written back as conv weight = folded weight, conv bias (if any) 0,
    and an identity BatchNorm carrying the folded bias (mean 0, var ~1 - eps, gamma 1; for a BN
    after a Concat, each conv's bias in its channel range), so ``load_checkpoint`` rebuilds a float
    model computing exactly the fine-tuned function and ``prepare`` on it folds back to the same weights.
    """
    qsd = qmodel.state_dict()
    out = {}
    for k, v in float_model.state_dict().items():
        out[k] = qsd[k].detach().clone() if k in qsd and qsd[k].shape == v.shape else v.detach().clone()
    for conv_name, bn_name, first, stop in placement.folded:
        qconv = qmodel.get_submodule(conv_name)
        bn = float_model.get_submodule(bn_name)
        out[f"{conv_name}.weight"] = qconv.weight.detach().clone()
        if f"{conv_name}.bias" in out:
            out[f"{conv_name}.bias"] = torch.zeros_like(out[f"{conv_name}.bias"])
        out[f"{bn_name}.weight"] = torch.ones_like(bn.weight)
        bias = out.get(f"{bn_name}.bias")
        bias = torch.zeros_like(bn.bias) if bias is None or first == 0 else bias
        bias[first:stop] = qconv.bias.detach()
        out[f"{bn_name}.bias"] = bias
        out[f"{bn_name}.running_mean"] = torch.zeros_like(bn.running_mean)
        out[f"{bn_name}.running_var"] = torch.full_like(bn.running_var, _identity_var(bn.eps))
    return out


def _identity_var(eps: float) -> float:
    """A float32 variance v with float32(v + eps) == 1 exactly, so refolding multiplies by exactly 1
    (a 1e-7 drift would flip a few activation roundings and change INT8 outputs visibly)."""
    import numpy as np

    e = np.float32(eps)
    v = np.float32(1.0) - e
    for _ in range(8):
        s = np.float32(v + e)
        if s == np.float32(1.0):
            break
        v = np.nextafter(v, np.float32(0.0) if s > 1 else np.float32(2.0), dtype=np.float32)
    return float(v)
