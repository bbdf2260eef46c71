"""Bytes a model's layers move per image, at an artifact's precision: the memory side of the roofline.

One eval-mode forward pass is traced op by op (``TorchDispatchMode``, on PyTorch's ``meta`` device
when the model can run there: shapes only). Each op that an inference engine runs as a kernel counts
its activation inputs, its outputs and its weights once:

- activations (inputs and outputs) at ``ACT_BYTES[precision]`` per element (fp32 4, fp16 2, int8 1),
  integer ones (a labels head's class ids) at their dtype's size;
- weights (the model's parameters and buffers) at ``WEIGHT_BYTES[precision]``, except 1-D ones
  (biases, BatchNorm/PReLU vectors) at 4 bytes for int8 (int8 kernels keep int32 biases, float scales);
- ops that move no data (views, reshapes) and the element-wise epilogues engines fuse into the
  kernel before them (BatchNorm in eval mode, ReLU/ReLU6/PReLU/sigmoid, dropout) count nothing.

It is an estimate, a lower bound on what a runtime moves: every tensor is read and written once
(caches assumed to hold nothing between ops, nor to spare any re-read inside one op), and layout
reorders are not counted. Which of a model's ops survive a runtime's fusions differs per runtime.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode

#: Bytes per activation element per precision.
ACT_BYTES = {"fp32": 4, "fp16": 2, "int8": 1}
#: Bytes per weight element per precision (1-D weights of int8 models: 4, see the module doc).
WEIGHT_BYTES = {"fp32": 4, "fp16": 2, "int8": 1}

#: aten ops (overload packet names) that move no data or that engines fuse into the op before them.
FREE_OPS = frozenset(
    {
        "view",
        "_unsafe_view",
        "reshape",
        "expand",
        "permute",
        "t",
        "transpose",
        "unsqueeze",
        "squeeze",
        "slice",
        "select",
        "alias",
        "detach",
        "split",
        "split_with_sizes",
        "chunk",
        "unbind",
        "as_strided",
        "lift_fresh",
        "clone",
        "contiguous",
        "empty",
        "empty_like",
        "zeros",
        "zeros_like",
        "ones",
        "ones_like",
        "_to_copy",
        "to",
        "sym_size",
        "sym_stride",
        "sym_numel",
        "size",
        "stride",
        "dim",
        "_native_batch_norm_legit_no_training",
        "native_batch_norm",
        "batch_norm",
        "_native_batch_norm_legit",
        "relu",
        "relu_",
        "hardtanh",
        "hardtanh_",
        "_prelu_kernel",
        "prelu",
        "sigmoid",
        "dropout",
        "native_dropout",
    }
)


class _Counter(TorchDispatchMode):
    def __init__(self, weights: set[int], act: int, weight: int, small: int, names: list[str]) -> None:
        super().__init__()
        self.weights, self.act, self.weight, self.small, self.names = weights, act, weight, small, names
        self.layers: list[dict[str, Any]] = []

    def _size(self, t: torch.Tensor) -> int:
        """Bytes per activation element: the precision's for float tensors, the dtype's for integer
        ones (a labels head's class ids)."""
        return self.act if t.is_floating_point() else t.element_size()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204 - torch's protocol
        out = func(*args, **(kwargs or {}))
        op = func.overloadpacket.__name__
        if op in FREE_OPS:
            return out
        in_b = w_b = 0
        for t in _tensors((args, kwargs or {})):
            if id(t) in self.weights:
                w_b += t.numel() * (self.weight if t.dim() > 1 else self.small)
            else:
                in_b += t.numel() * self._size(t)
        out_b = sum(t.numel() * self._size(t) for t in _tensors(out))
        self.layers.append(
            {
                "name": self.names[-1] if self.names else "",
                "op": op,
                "in_bytes": in_b,
                "out_bytes": out_b,
                "weight_bytes": w_b,
            }
        )
        return out


def _tensors(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


def layer_traffic(
    model: nn.Module, *, size: tuple[int, int], precision: str = "fp32", batch: int = 1
) -> dict[str, Any]:
    """``{"bytes": total, "mbytes": total / 1e6 per image, "precision", "layers": [{name, op, in_bytes,
    out_bytes, weight_bytes}, ...]}`` of one eval-mode forward pass of ``batch`` (default 1) x 3 x H x W
    (``size``) on the model's device, at ``precision`` ("fp32" default, "fp16", "int8"; see the module
    doc). ``name`` is the innermost module the op ran in. The model's train/eval mode is restored."""
    if precision not in ACT_BYTES:
        raise ValueError(f"precision {precision!r}: expected one of {', '.join(ACT_BYTES)}")
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1 or batch < 1:
        raise ValueError(f"size and batch must be positive, found size {size}, batch {batch}")
    weights = {id(t) for t in (*model.parameters(), *model.buffers())}
    names: list[str] = []
    hooks = []

    def leave(module: nn.Module, args: Any, out: Any) -> None:  # returns None: the output is kept
        names.pop()

    for name, mod in model.named_modules():
        hooks.append(mod.register_forward_pre_hook(lambda m, a, n=name: names.append(n) and None))
        hooks.append(mod.register_forward_hook(leave))
    device = next((t.device for t in (*model.parameters(), *model.buffers())), torch.device("cpu"))
    was_training = model.training
    counter = _Counter(
        weights,
        ACT_BYTES[precision],
        WEIGHT_BYTES[precision],
        4 if precision == "int8" else WEIGHT_BYTES[precision],
        names,
    )
    try:
        model.eval()
        x = torch.zeros(batch, 3, h, w, device=device)
        with torch.no_grad(), counter:
            model(x)
    finally:
        for hk in hooks:
            hk.remove()
        model.train(was_training)
    total = sum(r["in_bytes"] + r["out_bytes"] + r["weight_bytes"] for r in counter.layers)
    return {"bytes": total, "mbytes": total / batch / 1e6, "precision": precision, "layers": counter.layers}
