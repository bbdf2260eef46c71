"""Checkpoint -> ExecuTorch program: ``torch.export``, PT2E INT8 (XNNPACK quantizer), XNNPACK lowering.

``lower(net, example, card_json=..., calib=...)`` returns the program bytes and how the graph was
delegated. INT8 follows ExecuTorch's XNNPACK recipe: ``prepare_pt2e`` with
``XNNPACKQuantizer(get_symmetric_quantization_config(is_per_channel=True))`` (int8 weights,
symmetric per output channel; int8 activations per tensor from a histogram observer), the frames
run through the prepared model, ``convert_pt2e``, then export again and lower.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from edgeseg.backends.executorch import CARD_METHOD, SPEC
from edgeseg.backends.executorch._native import quiet
from edgeseg.errors import BuildError

#: What an INT8 program states in ``card.extra["quantization"]``.
XNNPACK_INT8 = {
    "flavour": "xnnpack-pt2e",
    "tool": "torchao PT2E (prepare_pt2e / convert_pt2e) with ExecuTorch's XNNPACKQuantizer",
    "weights": "int8 symmetric, per output channel (min/max)",
    "activations": "int8 per tensor, asymmetric, histogram observer",
}


@dataclass
class Lowered:
    """A lowered program: its ``buffer`` bytes and the delegation counts (``delegation`` for the card)."""

    buffer: bytes
    delegated_nodes: int
    other_nodes: int
    subgraphs: int
    not_delegated: dict[str, int] = field(default_factory=dict)
    rewrites: list[str] = field(default_factory=list)
    #: card JSON -> the same program's bytes with that card (set by ``lower``; no second calibration)
    restamp: Callable[[str], bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def delegation(self) -> dict[str, Any]:
        return {
            "delegate": "XnnpackBackend",
            "delegated_nodes": self.delegated_nodes,
            "other_nodes": self.other_nodes,
            "subgraphs": self.subgraphs,
            "not_delegated": dict(self.not_delegated),
            "rewrites": list(self.rewrites),
        }

    def warning(self) -> str | None:
        """One line naming the operators left to ExecuTorch's portable kernels, or None when all run in
        XNNPACK."""
        if not self.not_delegated:
            return None
        ops = ", ".join(f"{op} x{n}" for op, n in sorted(self.not_delegated.items()))
        return (
            f"warning: {sum(self.not_delegated.values())} of "
            f"{self.delegated_nodes + sum(self.not_delegated.values())} "
            f"operators run outside XNNPACK on ExecuTorch's portable (slower) kernels: {ops}"
        )


#: Graph nodes that are bookkeeping, not operators (not counted as "not delegated").
_BOOKKEEPING = ("getitem", "executorch_call_delegate", "lowered_module", "alloc", "output", "placeholder")


def pad_avg_pools(net: Any) -> tuple[Any, list[str]]:
    """A copy of ``net`` whose zero-padded average pools XNNPACK can take, and the rewrites made.

    XNNPACK refuses ``AvgPool2d(padding=p)`` with ``count_include_pad=True`` (PyTorch's default, used by
    CGNet's input injection), which would leave those pools on ExecuTorch's portable kernels. Counting
    the padding as zeros is exactly an explicit ``ZeroPad2d(p)`` followed by the pool without padding,
    which it takes. (The build's comparison with PyTorch checks the result.)"""
    import copy

    import torch.nn as nn

    out = copy.deepcopy(net)
    done: list[str] = []
    for name, mod in list(out.named_modules()):
        for child_name, child in list(mod.named_children()):
            if (
                isinstance(child, nn.AvgPool2d)
                and child.count_include_pad
                and not child.ceil_mode
                and child.divisor_override is None
                and child.padding not in (0, (0, 0))
            ):
                pad = child.padding if isinstance(child.padding, tuple) else (child.padding, child.padding)
                setattr(
                    mod,
                    child_name,
                    nn.Sequential(
                        nn.ZeroPad2d((pad[1], pad[1], pad[0], pad[0])),
                        nn.AvgPool2d(child.kernel_size, child.stride, padding=0),
                    ),
                )
                done.append(
                    f"{name + '.' if name else ''}{child_name}: AvgPool2d(padding={child.padding}) -> "
                    "ZeroPad2d + AvgPool2d"
                )
    return out, done


def _imports() -> dict[str, Any]:
    try:
        with quiet():
            from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
            from executorch.devtools.backend_debug import get_delegation_info
            from executorch.exir import to_edge_transform_and_lower
    except ImportError as e:
        raise SPEC.missing() from e
    return {
        "partitioner": XnnpackPartitioner,
        "info": get_delegation_info,
        "lower": to_edge_transform_and_lower,
    }


def float_filter(float_modules: Iterable[str]) -> Callable[[Any], bool]:
    """The XNNPACK quantizer's node filter that leaves the ops of ``float_modules`` (module names, as
    ``torch.export``'s ``nn_module_stack`` records them) out of the annotation: they stay float."""
    names = frozenset(float_modules)

    def keep(node: Any) -> bool:
        stack = node.meta.get("nn_module_stack") or {}
        return not any(str(v[0]) in names for v in stack.values())

    return keep


def quantize_pt2e(
    exported: Any,
    batches: Iterable[np.ndarray],
    *,
    log: Callable[[str], None],
    float_modules: Iterable[str] = (),
) -> Any:
    """The PT2E INT8 module of an exported program, calibrated on ``batches`` (NCHW float32);
    ``float_modules`` (default none) are left out of the quantizer's annotation (mixed precision)."""
    import torch

    with quiet():
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer,
            get_symmetric_quantization_config,
        )
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = XNNPACKQuantizer()
    quantizer.set_global(get_symmetric_quantization_config(is_per_channel=True))
    float_modules = list(float_modules)
    if float_modules:
        quantizer.set_filter_function(float_filter(float_modules))
    with quiet():
        prepared = prepare_pt2e(exported.module(), quantizer)
    seen = 0
    with torch.no_grad():
        for batch in batches:
            prepared(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)))
            seen += 1
    if not seen:
        raise BuildError("the calibration set gave no frames")
    with quiet():
        return convert_pt2e(prepared)


def lower(
    net: Any,
    example: Any,
    *,
    card_json: Callable[[Lowered], str],
    calib: Iterable[np.ndarray] | None = None,
    float_modules: Iterable[str] = (),
    arch: str | None = None,
    log: Callable[[str], None] = print,
) -> Lowered:
    """Export ``net`` at ``example``'s shape, quantize it when ``calib`` is given, lower to XNNPACK and
    emit the program (``float_modules``: left float, see ``quantize_pt2e``; ``arch``: the model's
    registry name, whose exact deploy form is lowered (``edgeseg.models.DEPLOY_FORMS``; default None:
    as given)); ``card_json(lowered)``
    (called once the delegation is known) is stored as the ``edgeseg_card`` method."""
    import torch

    from edgeseg.models import deploy_form

    lib = _imports()
    net, rewrites = deploy_form(arch, net.eval()) if arch else (net.eval(), [])
    net, pools = pad_avg_pools(net)
    rewrites = [*rewrites, *pools]
    try:
        with quiet():
            exported = torch.export.export(net, (example,))
            if calib is not None:
                qmodule = quantize_pt2e(exported, calib, log=log, float_modules=float_modules)
                exported = torch.export.export(qmodule, (example,))
            edge = lib["lower"](
                exported,
                partitioner=[lib["partitioner"]()],
                constant_methods={CARD_METHOD: torch.zeros(1, dtype=torch.uint8)},
            )
            info = lib["info"](edge.exported_program().graph_module)
    except BuildError:
        raise
    except Exception as e:  # noqa: BLE001 - export and lowering raise many kinds
        raise BuildError(
            "ExecuTorch could not export/lower the model: "
            f"{str(e).splitlines()[0][:300] if str(e) else type(e).__name__}"
        ) from e
    other = {
        op: b.non_delegated
        for op, b in info.delegation_by_operator.items()
        if b.non_delegated and not op.startswith(_BOOKKEEPING)
    }
    result = Lowered(
        b"",
        info.num_delegated_nodes,
        info.num_non_delegated_nodes,
        info.num_delegated_subgraphs,
        other,
        rewrites=rewrites,
    )
    # The card is known only now (it records the delegation). ExecuTorch keeps constant methods in the
    # edge manager's dict until it emits; where that dict is not there, lower again with the card.
    # Either way the build reads the card back from the written program and checks it arrived.
    slot = getattr(edge, "_config_methods", None)

    def emit(text: str) -> bytes:
        card = torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8).clone()
        try:
            with quiet():
                if isinstance(slot, dict) and CARD_METHOD in slot:
                    slot[CARD_METHOD] = card
                    return bytes(edge.to_executorch().buffer)
                again = lib["lower"](
                    exported, partitioner=[lib["partitioner"]()], constant_methods={CARD_METHOD: card}
                )
                return bytes(again.to_executorch().buffer)
        except Exception as e:  # noqa: BLE001
            raise BuildError(
                "ExecuTorch could not emit the program: "
                f"{str(e).splitlines()[0][:300] if str(e) else type(e).__name__}"
            ) from e

    result.buffer = emit(card_json(result))
    result.restamp = emit
    return result
