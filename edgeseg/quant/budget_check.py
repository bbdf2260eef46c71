"""The accuracy budget checked on a built artifact, for searches that ran on a proxy.

``--max-drop`` ranks and chooses layers on edgeseg's symmetric fake quant. Where the artifact is quantized
by another tool (ExecuTorch's XNNPACK quantizer, ONNX Runtime's ``quantize_static``), that is a proxy: a
plan it meets is no promise for the artifact. :class:`BudgetFrames` holds the search's frames, reference
and budget, and scores an artifact's label maps; :func:`extend_until_met` builds the artifact, scores it
and, while it misses, leaves the next layers of the proxy's ranking float too (1, then 2, 4, ... more), at
most ``MAX_REBUILDS`` more builds. The mixed record keeps every check (``program_checks``).
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import numpy as np

T = TypeVar("T")
#: Extra builds after the first when the artifact misses the budget.
MAX_REBUILDS = 4


class BudgetFrames:
    """The budget frames (the first ``budget_frames`` or ``frames`` of ``val_data``'s val split, batches
    of 1) with the FP32 model's labels and the ground truth, and the request's budget."""

    def __init__(self, net: Any, card: Any, *, mixed: Any, val_data: str) -> None:
        from edgeseg.data.datasets import open_dataset
        from edgeseg.quant.fallback_search import DEFAULT_CLASS_DROP, Budget
        from edgeseg.quant.label_budget import label_maps, make_scorer
        from edgeseg.quant.sensitivity import frame_batches, predict

        size = tuple(card.input_size)
        n = mixed.frames if mixed.budget_frames is None else mixed.budget_frames
        ds = open_dataset(val_data, "val", size=size)
        self.batches = frame_batches(ds, card, frames=n, batch=1)
        self.budget = Budget(
            max_drop=mixed.max_drop,
            class_drop=DEFAULT_CLASS_DROP if mixed.class_drop is None else mixed.class_drop,
            reference=mixed.reference,
        )
        fp32 = predict(net.eval(), self.batches)
        labels = label_maps(ds, frames=n, size=size) if mixed.reference == "labels" else None
        self._score = make_scorer(
            fp32,
            num_classes=card.num_classes,
            reference=mixed.reference,
            labels=labels,
            ignore_index=card.ignore_index,
        )
        self.class_names = card.class_names

    def result(self, infer: Callable[[np.ndarray], np.ndarray]) -> dict[str, Any]:
        """{drop, worst class and its drop, met} of the artifact whose ``infer`` maps a batch to logits."""
        preds = np.concatenate([np.asarray(infer(b)).argmax(1).astype(np.uint8) for b in self.batches])
        s = self._score(preds)
        cd = s.class_drops(min_pixels=self.budget.min_class_pixels)
        worst = max(cd, key=cd.get) if cd else None
        return {
            "drop": round(s.drop(), 4),
            "worst_class": None if worst is None else self.class_names[worst],
            "worst_class_drop": None if worst is None else round(cd[worst], 4),
            "met": self.budget.holds(s),
        }


def extend_until_met(
    build: Callable[[list[str]], T],
    check: Callable[[T], dict[str, Any]],
    *,
    float_layers: list[str],
    record: dict[str, Any],
    ranking: list[str] | None = None,
    what: str = "the built program",
    log: Callable[[str], None] = print,
) -> tuple[T, list[str]]:
    """(the last artifact, its float layers): ``build(float_layers)`` and ``check`` it until it meets the
    budget, the ranking (``ranking``, default ``record["ranking"]``; residual quantizers skipped) runs out
    or ``MAX_REBUILDS`` more builds are done, adding 1, 2, 4, ... layers each time. ``record`` (the card's
    mixed record) gets ``program_checks``, ``program_budget_met`` and, when layers were added,
    ``proxy_float_layers`` and the final ``float_layers``."""
    order = record.get("ranking", []) if ranking is None else ranking
    ranking = [u for u in order if not u.endswith("residual_quantizer")]
    layers, step, checks = list(float_layers), 1, []
    for attempt in range(MAX_REBUILDS + 1):
        artifact = build(layers)
        c = check(artifact)
        checks.append({"float_layers": len(layers), **c})
        log(
            f"{what} on the budget frames: drop {c['drop']:.2f} points, worst class "
            f"{c['worst_class']} {c['worst_class_drop']}: {'met' if c['met'] else 'missed'}"
        )
        more = [u for u in ranking if u not in layers][:step]
        if c["met"] or not more or attempt == MAX_REBUILDS:
            break
        log(f"{what} misses the budget the proxy met: {len(more)} more layer(s) float, building again")
        layers += more
        step *= 2
    record["program_checks"] = checks
    record["program_budget_met"] = checks[-1]["met"]
    if len(layers) != len(float_layers):
        record["proxy_float_layers"] = list(float_layers)
        record["float_layers"] = list(layers)
    if not checks[-1]["met"]:
        log(
            f"WARNING: {what} misses the budget with {len(layers)} layers float "
            f"({checks[-1]['drop']:.2f} points); the card records it (mixed.program_checks)"
        )
    return artifact, layers
