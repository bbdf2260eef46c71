"""Bias correction after calibration (Nagel et al. 2019, "Data-Free Quantization", empirical variant).

INT8 rounding of the weights and clipping/rounding of the inputs shift the mean of a quantized
layer's output. For every quantized Conv / ConvTranspose / Linear, the per-output-channel mean of
``float output - quantized output`` over the calibration frames is added to the layer's bias (a
layer without a bias gets one), so the quantized output mean matches the float one.

- ``"fast"`` (one pass, as OpenVINO NNCF's FastBiasCorrection): every layer sees the *float*
  input; its float output is compared with its quantized output (input fake-quantized with the
  layer's input quantizer, weights per channel). Memory: one batch.
- ``"sequential"`` (as NNCF's BiasCorrection): layers are corrected in graph order and each one's
  quantized output is computed from the *quantized, already corrected* model, so the correction
  also absorbs the mean error that the layers before it passed on. The graph is run node by node
  over all the frames at once: memory is about (live activations) x (frames) x 2, so at most
  ``frames`` (64) evenly spaced calibration frames are used.

The bias stays a float32 tensor (the ONNX Conv's third input), as TensorRT expects in explicit
quantization: it adds the bias in float after the INT8 convolution's dequantization.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn

from edgeseg.errors import QuantizationError
from edgeseg.quant.fakequant import QUANT_MODULES, TensorQuantizer, fake_quant_per_tensor, quantizers

MODES = ("none", "fast", "sequential")
#: Frames the sequential mode keeps (CGNet at 360x480: about 2 GB for 64 frames; 32 or 100 frames
#: gave the same val mIoU within 0.05 point).
SEQUENTIAL_FRAMES = 64


def _weighted(qmodel: nn.Module) -> dict[str, nn.Module]:
    kinds = tuple(QUANT_MODULES.values())
    return {n: m for n, m in qmodel.named_modules() if isinstance(m, kinds)}


def input_quantizers(qmodel: fx.GraphModule) -> dict[str, str | None]:
    """{quantized op: the activation quantizer that feeds it (None when its input is not quantized)}."""
    if not isinstance(qmodel, fx.GraphModule):
        raise QuantizationError(
            "bias correction needs the fake-quant model from edgeseg.quant.placement.prepare"
        )
    weighted = _weighted(qmodel)
    out: dict[str, str | None] = {}
    for node in qmodel.graph.nodes:
        if node.op != "call_module" or node.target not in weighted:
            continue
        src = node.args[0] if node.args else None
        is_q = (
            isinstance(src, fx.Node)
            and src.op == "call_module"
            and isinstance(qmodel.get_submodule(src.target), TensorQuantizer)
        )
        out[str(node.target)] = str(src.target) if is_q else None
    return out


def _channel_sum(y: torch.Tensor, linear: bool) -> torch.Tensor:
    """Sum over every axis but the output channels (axis 1 for convs, the last axis for Linear)."""
    dims = [d for d in range(y.dim()) if d != (y.dim() - 1 if linear else 1)]
    return y.double().sum(dim=dims)


def _count(y: torch.Tensor, linear: bool) -> int:
    return y.numel() // y.shape[-1 if linear else 1]


class _QuantState:
    """Switch every quantizer (weights too) off for the float model, and back."""

    def __init__(self, qmodel: nn.Module) -> None:
        self.quants = quantizers(qmodel)
        self.saved = {n: q.mode for n, q in self.quants.items()}

    def float(self) -> None:
        for q in self.quants.values():
            q.mode = "off"

    def quant(self) -> None:
        for q in self.quants.values():
            q.mode = "quant"

    def restore(self) -> None:
        for n, q in self.quants.items():
            q.mode = self.saved[n]


def bias_state(qmodel: nn.Module) -> dict[str, torch.Tensor | None]:
    """A copy of every quantized op's bias (None where it has none), for :func:`load_bias_state`."""
    return {n: None if m.bias is None else m.bias.detach().clone() for n, m in _weighted(qmodel).items()}


def load_bias_state(qmodel: nn.Module, state: dict[str, torch.Tensor | None]) -> None:
    """Put back biases saved by :func:`bias_state` (a bias added by correction is removed again)."""
    for n, m in _weighted(qmodel).items():
        b = state[n]
        if b is None:
            m.bias = None
        elif m.bias is None:
            m.bias = nn.Parameter(b.clone())
        else:
            with torch.no_grad():
                m.bias.copy_(b)


def _add_bias(module: nn.Module, shift: torch.Tensor) -> None:
    shift = shift.to(dtype=module.weight.dtype, device=module.weight.device)
    with torch.no_grad():
        if module.bias is None:
            module.bias = nn.Parameter(shift.clone())
        else:
            module.bias.add_(shift)


def _quant_output(module: nn.Module, x: torch.Tensor, amax: torch.Tensor | None) -> torch.Tensor:
    """``module`` with INT8 weights on the input fake-quantized with ``amax`` (None: float input)."""
    xq = x if amax is None else fake_quant_per_tensor(x, amax)
    wq = module.weight_quantizer
    mode, wq.mode = wq.mode, "quant"
    try:
        return module.forward(xq)  # .forward: no hooks
    finally:
        wq.mode = mode


def _fast(
    qmodel: fx.GraphModule, batches: Iterable[Any], *, device: torch.device, bar: Callable
) -> dict[str, torch.Tensor]:
    weighted = _weighted(qmodel)
    feeds = input_quantizers(qmodel)
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    handles = []

    def hook(name: str):
        module = weighted[name]
        amax = qmodel.get_submodule(feeds[name]).amax if feeds[name] else None
        linear = isinstance(module, nn.Linear)

        def fn(mod: nn.Module, args: tuple, out: torch.Tensor) -> None:
            d = out - _quant_output(mod, args[0], amax)
            sums[name] = sums.get(name, 0) + _channel_sum(d, linear)
            counts[name] = counts.get(name, 0) + _count(d, linear)

        return fn

    for name in feeds:
        handles.append(weighted[name].register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            for batch in bar(batches):
                qmodel(torch.as_tensor(batch).to(device))
    finally:
        for h in handles:
            h.remove()
    if not counts:
        raise QuantizationError("bias correction: the calibration set gave no batches")
    shifts = {n: (sums[n] / counts[n]).float() for n in feeds if n in sums}
    for n, s in shifts.items():
        _add_bias(weighted[n], s)
    return shifts


def _last_uses(graph: fx.Graph) -> dict[fx.Node, list[fx.Node]]:
    """{node: values whose last reader it is} (freed right after the node ran)."""
    seen: set[fx.Node] = set()
    out: dict[fx.Node, list[fx.Node]] = {}
    for node in reversed(list(graph.nodes)):
        for a in node.all_input_nodes:
            if a not in seen:
                seen.add(a)
                out.setdefault(node, []).append(a)
    return out


def spread_frames(batches: list[torch.Tensor], frames: int | None) -> list[torch.Tensor]:
    """At most ``frames`` frames, evenly spaced over ``batches``, in batches of the first one's size."""
    total = sum(len(b) for b in batches)
    if frames is None or total <= frames:
        return batches
    flat = torch.cat(batches)
    keep = torch.from_numpy(np.linspace(0, total - 1, frames).round().astype(np.int64))
    return list(torch.split(flat[keep], len(batches[0])))


def _sequential(
    qmodel: fx.GraphModule,
    batches: Iterable[Any],
    *,
    device: torch.device,
    bar: Callable,
    state: _QuantState,
    frames: int | None,
) -> dict[str, torch.Tensor]:
    xs = [torch.as_tensor(b) for b in bar(batches)]
    if not xs:
        raise QuantizationError("bias correction: the calibration set gave no batches")
    xs = [x.to(device) for x in spread_frames(xs, frames)]
    if sum(n.op == "placeholder" for n in qmodel.graph.nodes) != 1:
        raise QuantizationError("sequential bias correction supports models with one input")
    weighted = _weighted(qmodel)
    # one interpreter per batch and per model (float: every quantizer off; quant: on), run node by node
    envs = {"float": [fx.Interpreter(qmodel) for _ in xs], "quant": [fx.Interpreter(qmodel) for _ in xs]}
    switch = {"float": state.float, "quant": state.quant}
    last = _last_uses(qmodel.graph)
    shifts: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for node in qmodel.graph.nodes:
            if node.op == "output":
                break
            outs = {}
            for kind, interps in envs.items():
                switch[kind]()
                outs[kind] = list(xs) if node.op == "placeholder" else [it.run_node(node) for it in interps]
            if node.op == "call_module" and node.target in weighted:
                linear = isinstance(weighted[node.target], nn.Linear)
                diff = sum(_channel_sum(f - q, linear) for f, q in zip(outs["float"], outs["quant"]))
                shift = (diff / sum(_count(f, linear) for f in outs["float"])).float()
                _add_bias(weighted[node.target], shift)
                shifts[str(node.target)] = shift
                view = (-1,) if linear else (1, -1) + (1,) * (outs["quant"][0].dim() - 2)
                outs["quant"] = [
                    q + shift.to(q.dtype).reshape(view) for q in outs["quant"]
                ]  # = the corrected layer
            for kind, interps in envs.items():
                for it, value in zip(interps, outs[kind]):
                    it.env[node] = value
                    for dead in last.get(node, ()):
                        it.env.pop(dead, None)
    return shifts


def correct_bias(
    qmodel: nn.Module,
    batches: Iterable[np.ndarray | torch.Tensor],
    *,
    mode: str = "sequential",
    frames: int | None = SEQUENTIAL_FRAMES,
    total: int | None = None,
    progress: bool = True,
    device: torch.device | str = "cpu",
) -> dict[str, torch.Tensor]:
    """Correct the biases of the calibrated fake-quant ``qmodel`` in place (default mode "sequential").

    ``frames`` (default 64; None: all) caps the frames the sequential mode holds in memory, evenly
    spaced over ``batches``; "fast" streams every batch. Returns {quantized op: per-channel shift
    added to its bias}; ``mode="none"`` does nothing. The activation ranges must be set (calibrate
    first); they are not changed.
    """
    from edgeseg._progress import progress_bar
    from edgeseg.quant.calibrate import is_calibrated

    if mode not in MODES:
        raise QuantizationError(f"unknown bias correction {mode!r}; expected one of {', '.join(MODES)}")
    if frames is not None and frames < 1:
        raise QuantizationError(f"bias correction: frames must be >= 1, found {frames}")
    if mode == "none":
        return {}
    if not is_calibrated(qmodel):
        raise QuantizationError("bias correction needs calibrated activation ranges; calibrate first")
    input_quantizers(qmodel)  # a clear error for models that did not come from prepare

    def bar(it: Iterable[Any]) -> Iterable[Any]:
        return progress_bar(
            it, total=total, desc=f"bias correction ({mode})", unit="batch", disable=not progress, leave=False
        )

    state = _QuantState(qmodel)
    qmodel.eval()
    device = torch.device(device)
    try:
        state.float()
        if mode == "fast":
            return _fast(qmodel, batches, device=device, bar=bar)
        return _sequential(qmodel, batches, device=device, bar=bar, state=state, frames=frames)
    finally:
        state.restore()
