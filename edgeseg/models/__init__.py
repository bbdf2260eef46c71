"""Model registry: one explicit ``MODELS`` dict of typed, keyword-only builders.

Every builder takes ``num_classes`` and returns an ``nn.Module`` mapping an NCHW float batch to
NCHW logits of the same height and width.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch.nn as nn

from edgeseg.errors import EdgesegError
from edgeseg.models.cgnet import cgnet
from edgeseg.models.cgnet_deploy import deploy_form as cgnet_deploy_form
from edgeseg.models.classics import deeplabv3, fcn, pspnet
from edgeseg.models.deeplabv3plus import deeplabv3plus_mobilenetv2, deeplabv3plus_xception

Builder = Callable[..., nn.Module]


def _registry(entries: Iterable[tuple[str, Builder]]) -> dict[str, Builder]:
    reg: dict[str, Builder] = {}
    for name, fn in entries:
        if name in reg:
            raise RuntimeError(f"model {name!r} registered twice")
        reg[name] = fn
    return reg


MODELS: dict[str, Builder] = _registry(
    [
        ("cgnet", cgnet),
        ("deeplabv3plus_mobilenetv2", deeplabv3plus_mobilenetv2),
        ("deeplabv3plus_xception", deeplabv3plus_xception),
        ("fcn", fcn),
        ("deeplabv3", deeplabv3),
        ("pspnet", pspnet),
    ]
)


#: Exact rewrites of a model into the form integer CPU runtimes run with fewer float kernels: arch ->
#: function(model) -> (rewritten copy, notes). ExecuTorch lowers this form; ``quantize --target cpu``
#: exports its fake-quant counterpart (``edgeseg.quant.deploy_fakequant``); other paths export the model
#: as trained.
DEPLOY_FORMS: dict[str, Callable[[nn.Module], tuple[nn.Module, list[str]]]] = {"cgnet": cgnet_deploy_form}


def deploy_form(name: str, model: nn.Module) -> tuple[nn.Module, list[str]]:
    """``DEPLOY_FORMS[name](model)``, or ``(model, [])`` for an architecture without one."""
    fn = DEPLOY_FORMS.get(name)
    return fn(model) if fn is not None else (model, [])


def build_model(name: str, *, num_classes: int, **kwargs: Any) -> nn.Module:
    """Build a registered model; a clear error lists the known names."""
    if name not in MODELS:
        raise EdgesegError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}")
    try:
        return MODELS[name](num_classes=num_classes, **kwargs)
    except (TypeError, ValueError) as e:
        raise EdgesegError(f"model {name!r}: bad arguments {kwargs} ({e})") from e


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
