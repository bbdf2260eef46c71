"""The CPU target's Q/DQ placement: int8 chains for OpenVINO, ONNX Runtime (and the like), on top of
TensorRT's placement (:mod:`edgeseg.quant.placement`).

TensorRT puts Q/DQ only on the inputs of weighted layers and fuses the float glue between them into
its kernels. The CPU runtimes do not: each PReLU, Concat, Add, Mul, pooling and reduce between two
int8 convolutions runs in float, with a reorder or a dequantize around it. :func:`add_output_quantizers`
adds, as NNCF places them, one per-tensor quantizer on the output of each

- PReLU / ReLU module, AvgPool2d / AdaptiveAvgPool2d module,
- ``torch.cat``, ``+`` / ``*`` (add, mul), ``mean`` (CGNet's FGlo reduce),
- graph input (the image read by CGNet's input-injection poolings),

and every consumer of that value reads the quantized value (one Q/DQ pair per tensor: a value that
already has a conv-input quantizer shares it with its other consumers instead of getting a second).
Sigmoid outputs (FGlo's channel weights, in [0, 1]) and the final Resize stay in float.

Why one set of observers serves both targets: the weights and the conv-input ranges are those QAT
trained (or PTQ calibrated) under TensorRT's placement, unchanged; only the new output quantizers
are calibrated, by :func:`calibrate_outputs`, in one short pass over the fake-quant model with every
other quantizer quantizing (so their ranges see the int8 model's values). The inputs of a Concat and
its output then share one range (``tie_concat``, default on: an int8 concat without requantization
needs equal scales), the largest of theirs.
"""

from __future__ import annotations

import operator
from typing import Any, Callable, Iterable

import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn

from edgeseg.errors import QuantizationError
from edgeseg.quant.fakequant import TensorQuantizer

#: Q/DQ placement targets: "tensorrt" (inputs of weighted layers; the default) and "cpu".
TARGETS = ("tensorrt", "cpu")
DEFAULT_TARGET = "tensorrt"
#: card.extra["flavour"] of a cpu-target file (a tensorrt-target file keeps "tensorrt-qdq").
CPU_FLAVOUR = "cpu-qdq"

_OUTPUT_MODULES = (nn.PReLU, nn.ReLU, nn.AvgPool2d, nn.AdaptiveAvgPool2d)
_OUTPUT_FUNCTIONS = {
    torch.cat,
    operator.add,
    operator.iadd,
    torch.add,
    operator.mul,
    operator.imul,
    torch.mul,
    torch.mean,
}
_OUTPUT_METHODS = {"add", "mul", "mean"}


def check_target(target: str) -> str:
    """``target`` if known, else a one-line QuantizationError naming the targets."""
    if target not in TARGETS:
        raise QuantizationError(f"Q/DQ target {target!r}: expected one of {', '.join(TARGETS)}")
    return target


def target_of(card: Any) -> str:
    """The target a Q/DQ file was placed for, from its card (no record: "tensorrt", as before targets)."""
    quant = (card.extra or {}).get("quantization") or {}
    return str(quant.get("target", DEFAULT_TARGET))


def _is_quantizer(gm: fx.GraphModule, node: fx.Node) -> bool:
    return node.op == "call_module" and isinstance(gm.get_submodule(node.target), TensorQuantizer)


def _wants_output_quantizer(gm: fx.GraphModule, node: fx.Node) -> bool:
    if node.op == "placeholder":
        return True
    if node.op == "call_module":
        return isinstance(gm.get_submodule(node.target), _OUTPUT_MODULES)
    if node.op == "call_function":
        return node.target in _OUTPUT_FUNCTIONS
    return node.op == "call_method" and node.target in _OUTPUT_METHODS


def _name_for(gm: fx.GraphModule, node: fx.Node) -> str:
    if node.op == "call_module":
        base = f"{node.target}.output_quantizer"
    else:
        stack = node.meta.get("nn_module_stack") or {}
        scope = next(reversed(stack)) if stack else ""
        base = f"{scope}.{node.name}_output_quantizer" if scope else f"{node.name}_output_quantizer"
    out, i = base, 1
    while True:
        try:
            gm.get_submodule(out)
        except AttributeError:
            return out
        out, i = f"{base}_{i}", i + 1


def add_output_quantizers(gm: fx.GraphModule) -> list[str]:
    """Quantize the outputs listed in the module docstring, in place; returns the NEW quantizers' names
    (uncalibrated). ``gm`` comes from ``placement.prepare`` (TensorRT's placement, calibrated or not)."""
    if not isinstance(gm, fx.GraphModule):
        raise QuantizationError(
            f"the CPU placement needs the fake-quant model from placement.prepare, found {type(gm).__name__}"
        )
    added: list[str] = []
    for node in list(gm.graph.nodes):
        if not _wants_output_quantizer(gm, node) or _is_quantizer(gm, node):
            continue
        users = list(node.users)
        if not users or any(u.op == "output" for u in users):
            continue  # a graph output stays float
        existing = [u for u in users if _is_quantizer(gm, u) and u.args and u.args[0] is node]
        if existing:
            qnode = existing[0]
        else:
            name = _name_for(gm, node)
            gm.add_submodule(
                name,
                TensorQuantizer(where=f"output of {node.target if node.op == 'call_module' else node.name}"),
            )
            with gm.graph.inserting_after(node):
                qnode = gm.graph.call_module(name, (node,))
            added.append(name)
        node.replace_all_uses_with(qnode, delete_user_cb=lambda u, q=qnode: u is not q)
    gm.graph.lint()
    gm.recompile()
    return added


def concat_groups(gm: fx.GraphModule) -> list[list[str]]:
    """Quantizer names that must share one range: each Concat's quantized inputs and its output's
    quantizer, merged where groups overlap (a quantizer feeding two concats)."""
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        while parent.setdefault(a, a) != a:
            a = parent[a]
        return a

    for node in gm.graph.nodes:
        if node.op != "call_function" or node.target is not torch.cat:
            continue
        tensors = node.args[0] if node.args else node.kwargs.get("tensors", ())
        names = [str(t.target) for t in tensors if isinstance(t, fx.Node) and _is_quantizer(gm, t)]
        names += [str(u.target) for u in node.users if _is_quantizer(gm, u)]
        if len(names) < 2 or len(names) != len(tensors) + 1:
            continue  # an input or the output in float: nothing to align
        for n in names[1:]:
            parent[find(n)] = find(names[0])
    groups: dict[str, list[str]] = {}
    for n in parent:
        groups.setdefault(find(n), []).append(n)
    return [sorted(g) for g in groups.values() if len(g) > 1]


def tie_ranges(gm: nn.Module, groups: Iterable[list[str]]) -> int:
    """Set every quantizer of a group to the group's largest range; returns the quantizers changed."""
    changed = 0
    for group in groups:
        qs = [gm.get_submodule(n) for n in group]
        top = max(float(q.amax) for q in qs)
        for q in qs:
            if float(q.amax) != top:
                q.set_amax(top)
                changed += 1
    return changed


def calibrate_outputs(
    gm: fx.GraphModule,
    names: list[str],
    batches: Iterable[np.ndarray | torch.Tensor],
    *,
    method: str = "mse",
    percentile: float = 99.99,
    tie_concat: bool = True,
    device: torch.device | str = "cpu",
    progress: bool = True,
    total: int | None = None,
) -> dict[str, float]:
    """Calibrate only the quantizers ``names`` (the others quantize, as exported) with ``method``
    (default mse; see ``calibrate.METHODS``), then tie Concat ranges (default on). Returns {name: amax}."""
    from edgeseg._progress import progress_bar
    from edgeseg.quant.calibrate import METHODS, Histogram, compute_amax

    if method not in METHODS:
        raise QuantizationError(f"calibration method {method!r}: expected one of {', '.join(METHODS)}")
    quants = {n: gm.get_submodule(n) for n in names}
    stats = {n: Histogram(where=f"{n} ({q.where})") for n, q in quants.items()}
    for n, q in quants.items():
        q.mode, q.observer = "calib", stats[n].collect
    seen = 0
    gm.eval()
    try:
        with torch.no_grad():
            for batch in progress_bar(
                batches,
                total=total,
                desc="calibrate outputs",
                unit="batch",
                disable=not progress,
                leave=False,
            ):
                gm(torch.as_tensor(batch).to(device))
                seen += 1
    finally:
        for q in quants.values():
            q.mode, q.observer = "quant", None
    if not seen:
        raise QuantizationError("the calibration set gave no batches")
    out = {}
    for n, q in quants.items():
        q.set_amax(compute_amax(stats[n], method, percentile=percentile))
        out[n] = float(q.amax)
    if tie_concat:
        tie_ranges(gm, concat_groups(gm))
        out = {n: float(quants[n].amax) for n in names}
    return out


def place_for_cpu(
    qmodel: fx.GraphModule,
    calib: Any,
    *,
    method: str = "mse",
    percentile: float = 99.99,
    tie_concat: bool = True,
    device: torch.device | str = "cpu",
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[str]:
    """Add the CPU target's output quantizers to the calibrated ``qmodel`` and calibrate them on
    ``calib`` (a CalibrationSet); returns their names. The other ranges and all weights stay as they are
    (concat-tied ranges excepted, see the module docstring)."""
    names = add_output_quantizers(qmodel)
    qmodel.to(device)
    calibrate_outputs(
        qmodel,
        names,
        calib.batches(),
        method=method,
        percentile=percentile,
        tie_concat=tie_concat,
        device=device,
        progress=progress,
        total=calib.num_batches(),
    )
    log(f"CPU placement: {len(names)} output quantizers calibrated ({method}) on {len(calib)} frames")
    return names


def cpu_card(card: Any, names: list[str], rewrites: Iterable[str] = ()) -> Any:
    """``card`` (from ``ptq.quantized_card``) marked as placed for the CPU target; ``rewrites`` (default
    none): the deploy form's notes (``deploy_fakequant``), recorded in ``extra["quantization"]["rewrites"]``
    as the ExecuTorch card records them in ``extra["delegation"]["rewrites"]``."""
    quant = dict(card.extra.get("quantization") or {})
    quant["target"], quant["flavour"] = "cpu", CPU_FLAVOUR
    quant["output_quantizers"] = len(names)
    quant["rewrites"] = list(rewrites)
    quant["activation_quantizers"] = int(quant.get("activation_quantizers", 0)) + len(names)
    return card.replace(extra={**card.extra, "flavour": CPU_FLAVOUR, "quantization": quant})


def placed_copy_for_cpu(
    qmodel: fx.GraphModule,
    card: Any,
    calib: Any,
    *,
    method: str = "mse",
    percentile: float = 99.99,
    arch: str | None = None,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> tuple[fx.GraphModule, Any]:
    """(a copy of ``qmodel`` placed for the CPU, ``card`` marked so): ``qmodel`` itself keeps TensorRT's
    placement (what a quantized checkpoint stores). ``arch`` (default None: as trained): the model's
    registry name, whose deploy form the copy takes first (``deploy_fakequant``; ``DEPLOY_FORMS``).
    Calibrates on the device ``qmodel`` is on."""
    from edgeseg.quant.deploy_fakequant import deploy_fakequant

    placed, rewrites = deploy_fakequant(qmodel, arch=arch or "")
    if rewrites:
        log(f"deploy form: {'; '.join(rewrites)}")
    device = next((p.device for p in placed.parameters()), torch.device("cpu"))
    names = place_for_cpu(
        placed, calib, method=method, percentile=percentile, device=device, progress=progress, log=log
    )
    return placed, cpu_card(card, names, rewrites)
