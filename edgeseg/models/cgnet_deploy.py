"""CGNet's deploy form: the same function with fewer float operations for integer CPU runtimes.

In every CG block the joint BatchNorm and PReLU follow ``cat([F_loc(y), F_sur(y)])``. Both are per
channel, so (exactly, up to float rounding):

- the BatchNorm folds into F_loc and F_sur (each output channel of those depthwise convs feeds exactly
  one channel of the concat): weight x scale, plus a bias;
- the PReLU moves in front of the concat, one PReLU per branch with that branch's slopes.

The block then reads ``cat([PReLU(F_loc'(y)), PReLU(F_sur'(y))])``: each branch is a conv with its
activation, which integer runtimes fuse or quantize, and the concat joins two already-activated
tensors. In ExecuTorch's XNNPACK INT8 a standalone BatchNorm becomes a float depthwise 1x1 conv and
PReLU has no int8 kernel, so each joint BN-PReLU is two float kernels with conversions around them.
The stage-level BN-PReLUs after the concats with the input injection are left as they are (their
inputs are not conv outputs). Per-channel weight quantization (amax / 127 per output channel) is
scale-equivariant, so a QAT checkpoint's int8 weight codes are unchanged by the fold.

F_loc and F_sur keep their names (each becomes ``Sequential(conv, PReLU)``), so a module-name filter
(mixed precision's float layers) still matches what it named.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

from edgeseg.models.cgnet import CGBlock, CGBlockDown, CGNet


def _fold_block(block: CGBlock | CGBlockDown) -> None:
    bn, prelu = block.bn_prelu[0], block.bn_prelu[1]
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias.detach() - bn.running_mean * scale
    slopes = prelu.weight.detach()
    k = block.f_loc.out_channels
    for name, part in (("f_loc", slice(0, k)), ("f_sur", slice(k, 2 * k))):
        conv: nn.Conv2d = getattr(block, name)
        folded = copy.deepcopy(conv)
        folded.weight = nn.Parameter(conv.weight.detach() * scale[part].view(-1, 1, 1, 1))
        bias = shift[part] if conv.bias is None else conv.bias.detach() * scale[part] + shift[part]
        folded.bias = nn.Parameter(bias.clone())
        act = nn.PReLU(k)
        act.weight = nn.Parameter(slopes[part].clone() if slopes.numel() > 1 else slopes.expand(k).clone())
        setattr(block, name, nn.Sequential(folded, act))
    block.bn_prelu = nn.Identity()


def deploy_form(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """A copy of ``model`` (a :class:`CGNet`, in eval mode) in its deploy form, and one note per kind of
    rewrite made; ``model`` itself is not changed. A model that is not a CGNet, or has no block left
    to rewrite, comes back as a copy with no notes."""
    out = copy.deepcopy(model).eval()
    if not isinstance(out, CGNet):
        return out, []
    blocks = [m for m in out.modules() if isinstance(m, (CGBlock, CGBlockDown)) and _foldable(m)]
    for block in blocks:
        _fold_block(block)
    if not blocks:
        return out, []
    return out, [
        f"{len(blocks)} CG blocks: joint BatchNorm folded into F_loc/F_sur, joint PReLU moved into each "
        "branch before the concat (exact)"
    ]


def _foldable(block: nn.Module) -> bool:
    bn = getattr(block, "bn_prelu", None)
    return (
        isinstance(bn, nn.Sequential)
        and len(bn) == 2
        and isinstance(bn[0], nn.BatchNorm2d)
        and isinstance(bn[1], nn.PReLU)
        and bn[0].track_running_stats
        and isinstance(getattr(block, "f_loc", None), nn.Conv2d)
        and isinstance(getattr(block, "f_sur", None), nn.Conv2d)
        and block.f_loc.out_channels == block.f_sur.out_channels
        and bn[0].num_features == 2 * block.f_loc.out_channels
    )
