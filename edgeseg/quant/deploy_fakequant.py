"""A model's deploy form (``edgeseg.models.DEPLOY_FORMS``) on its fake-quant graph: the CPU Q/DQ path's
counterpart of what the ExecuTorch lowering does to the float model, from the same QAT or PTQ model.

In the fake-quant graph (``placement.prepare``) a CG block reads ``PReLU(cat([F_loc(y), F_sur(y)]))``:
the joint BatchNorm is already folded into F_loc / F_sur (placement step 1). :func:`deploy_fakequant`
finds every Concat whose inputs are all weighted layers used only there, followed by a per-channel
PReLU (or by a joint BatchNorm, then the PReLU, where ``prepare(fold_bn=False)`` left it), and

- folds a joint BatchNorm into those layers: weight x scale and each weight quantizer's per-channel
  ``amax`` x |scale| (symmetric per-channel int8 is scale-equivariant: the int8 codes stay the same up
  to each channel's sign), bias x scale + shift;
- moves the PReLU in front of the Concat, one per branch with that branch's slopes, named
  ``<layer>_prelu``.

A joint PReLU read by a weighted layer's input quantizer (CGBlockDown's 1x1 ``reduce``: two blocks of
CGNet's 24) is left where it is: OpenVINO 2026 fuses that chain (conv, PReLU, the branch Q, the
reduce's Q) into each branch conv with a u8 output, and its result is not the graph's (ONNX Runtime
and the fake-quant model agree; OpenVINO's logits were 8 % off in relative L2 for stage2_down alone
on the tiny test CGNet, 21 % for both down blocks, against 1.3 % without the rewrite).

The weighted layers' input quantizers and every other range are unchanged, and no quantizer sits
between those layers and the PReLU, so the converted model computes the same values. The CPU
placement (``placement_cpu``) then quantizes each branch PReLU's output and ties them to the Concat's:
each branch runs as an int8 conv with its activation, and the Concat joins int8 tensors.
"""

from __future__ import annotations

import copy

import torch
import torch.fx as fx
import torch.nn as nn

from edgeseg.errors import QuantizationError
from edgeseg.quant.fakequant import QUANT_MODULES, TensorQuantizer
from edgeseg.quant.placement import _cat_inputs, _unique


def _module(gm: fx.GraphModule, node: fx.Node) -> nn.Module | None:
    return gm.get_submodule(node.target) if node.op == "call_module" else None


def _is_quantizer(gm: fx.GraphModule, node: fx.Node) -> bool:
    return isinstance(_module(gm, node), TensorQuantizer)


def _only_user(node: fx.Node) -> fx.Node | None:
    users = list(node.users)
    return users[0] if len(users) == 1 else None


def _branches(gm: fx.GraphModule, cat: fx.Node) -> list[fx.Node] | None:
    """The Concat's inputs when every one is a weighted (quantized) Conv2d used only by it."""
    ins = _cat_inputs(cat)
    if not ins or not all(isinstance(i, fx.Node) for i in ins):
        return None
    convs = [_module(gm, i) for i in ins]
    if not all(type(c) is QUANT_MODULES[nn.Conv2d] and list(i.users) == [cat] for c, i in zip(convs, ins)):
        return None
    return ins if len({i.target for i in ins}) == len(ins) else None


def _fold_joint_bn(gm: fx.GraphModule, branches: list[fx.Node], bn: nn.BatchNorm2d) -> None:
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias.detach() - bn.running_mean * scale
    first = 0
    for node in branches:
        conv = gm.get_submodule(node.target)
        part = slice(first, first + conv.out_channels)
        first += conv.out_channels
        with torch.no_grad():
            bias = shift[part] if conv.bias is None else conv.bias.detach() * scale[part] + shift[part]
            conv.weight = nn.Parameter(conv.weight.detach() * scale[part].view(-1, 1, 1, 1))
            conv.bias = nn.Parameter(bias.clone())
            q: TensorQuantizer = conv.weight_quantizer
            if q.calibrated:
                q.set_amax(q.amax * scale[part].abs())


def _joint_bn(gm: fx.GraphModule, node: fx.Node, channels: int) -> nn.BatchNorm2d | None:
    bn = _module(gm, node)
    if type(bn) is not nn.BatchNorm2d or not (bn.affine and bn.track_running_stats):
        return None
    return bn if bn.num_features == channels and bn.running_mean is not None else None


def _rewrite(gm: fx.GraphModule, cat: fx.Node) -> tuple[bool, bool]:
    """(rewritten, a joint BN folded) for one Concat."""
    branches = _branches(gm, cat)
    after = _only_user(cat) if branches else None
    if after is None:
        return False, False
    channels = [gm.get_submodule(b.target).out_channels for b in branches]
    bn = _joint_bn(gm, after, sum(channels))
    act_node = _only_user(after) if bn is not None else after
    act = _module(gm, act_node) if act_node is not None else None
    if type(act) is not nn.PReLU or act.num_parameters not in (1, sum(channels)):
        return False, False
    if any(_is_quantizer(gm, u) for u in act_node.users):
        return False, False  # read by a weighted layer (CGBlockDown's reduce): see the module docstring
    if bn is not None:
        _fold_joint_bn(gm, branches, bn)
        after.replace_all_uses_with(cat)
        gm.graph.erase_node(after)
    slopes, first = act.weight.detach(), 0
    for node, k in zip(branches, channels):
        prelu = nn.PReLU(k).to(slopes.device)
        part = slopes[first : first + k] if slopes.numel() > 1 else slopes.expand(k)
        prelu.weight = nn.Parameter(part.clone())
        first += k
        name = _unique(gm, f"{node.target}_prelu")
        gm.add_submodule(name, prelu)
        with gm.graph.inserting_after(node):
            pnode = gm.graph.call_module(name, (node,))
        cat.replace_input_with(node, pnode)
    act_node.replace_all_uses_with(cat)
    gm.graph.erase_node(act_node)
    return True, bn is not None


def deploy_fakequant(gm: fx.GraphModule, *, arch: str) -> tuple[fx.GraphModule, list[str]]:
    """A copy of the fake-quant ``gm`` (from ``placement.prepare``, calibrated or QAT-trained, before the
    CPU placement) in ``arch``'s deploy form, and one note per kind of rewrite (the notes the ExecuTorch
    card lists); ``gm`` is not changed. An ``arch`` without a ``DEPLOY_FORMS`` entry, or a graph with
    nothing to rewrite, comes back as a copy with no notes."""
    from edgeseg.models import DEPLOY_FORMS

    if not isinstance(gm, fx.GraphModule):
        raise QuantizationError(
            "the deploy form of a fake-quant model needs placement.prepare's model, found "
            f"{type(gm).__name__}"
        )
    if any(n.endswith("output_quantizer") for n, _ in gm.named_modules()):
        raise QuantizationError("apply the deploy form before the CPU placement (found output quantizers)")
    out = copy.deepcopy(gm)
    if arch not in DEPLOY_FORMS:
        return out, []
    done = [_rewrite(out, node) for node in list(out.graph.nodes) if _cat_inputs(node)]
    moved, folded = sum(d for d, _ in done), sum(f for _, f in done)
    if not moved:
        return out, []
    out.graph.lint()
    out.delete_all_unused_submodules()
    out.recompile()
    ranges = " (weight ranges scaled)" if folded else ""
    return out, [
        f"{moved} CG blocks: joint BatchNorm folded into F_loc/F_sur{ranges}, joint PReLU moved into each "
        "branch before the concat (exact; int8 weight codes and input ranges unchanged)"
    ]
