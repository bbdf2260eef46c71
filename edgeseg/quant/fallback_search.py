"""Greedy fallback to float: the fewest units (most sensitive first) that bring INT8 within a budget.

Budget: the mean drop at most ``max_drop`` and every class's drop at most ``class_drop`` (classes with
at least ``min_class_pixels`` reference pixels), in points of the budget's ``reference``
(:mod:`edgeseg.quant.label_budget`): ``mIoU@FP32`` (default, see :mod:`edgeseg.quant.sensitivity`) or
the drop of label mIoU against the ground truth. The ranking always uses the FP32-referenced sensitivity.
Steps:

1. rank the units by sensitivity: a unit's "badness" is max(mean drop / max_drop, worst class drop /
   class_drop) when it alone is INT8 ("isolated" scores), or what leaving it in float recovers of the
   all-INT8 badness ("leave-out" scores); with ``cost`` (what a unit adds in float, e.g. ms or GFLOP) and
   ``prefer_cheap``, by badness per unit of cost (a unit whose cost is None, not measurable, gets the
   median of the known costs; one that costs nothing or less in float comes first);
2. find the shortest prefix of that ranking that meets the budget (doubling, then bisection: about
   2 log2(units) evaluations of the mixed model, assuming more float layers never hurt);
3. prune: put each chosen unit back to INT8, least sensitive first, when the budget still holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn

from edgeseg.errors import QuantizationError
from edgeseg.quant.label_budget import REFERENCE_LABEL, check_reference, describe, make_scorer, summary_line
from edgeseg.quant.mixed import units as all_units
from edgeseg.quant.mixed import with_float_layers
from edgeseg.quant.sensitivity import MIN_CLASS_PIXELS, Agreement, predict

#: Per-class budget (points of IoU@FP32) used when only the mean budget is given.
DEFAULT_CLASS_DROP = 1.0


@dataclass
class Budget:
    """``max_drop`` (mean, points), ``class_drop`` (per class, points; default 1.0), ``min_class_pixels``,
    ``reference`` ("fp32", default: mIoU@FP32; or "labels": label mIoU, FP32's minus INT8's)."""

    max_drop: float
    class_drop: float = DEFAULT_CLASS_DROP
    min_class_pixels: int = MIN_CLASS_PIXELS
    reference: str = "fp32"

    def __post_init__(self) -> None:
        for name in ("max_drop", "class_drop"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
                raise QuantizationError(f"{name} must be a positive number of points, found {v!r}")
        check_reference(self.reference)

    def badness(self, a: Any) -> float:
        """max(mean drop / max_drop, worst class drop / class_drop): <= 1 when the budget holds."""
        worst = max(a.class_drops(min_pixels=self.min_class_pixels).values(), default=0.0)
        return max(a.drop() / self.max_drop, worst / self.class_drop)

    def holds(self, a: Agreement) -> bool:
        return self.badness(a) <= 1.0 + 1e-9

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_drop": self.max_drop,
            "class_drop": self.class_drop,
            "min_class_pixels": self.min_class_pixels,
            "reference": REFERENCE_LABEL[self.reference],
            "drop_reference": self.reference,
        }


@dataclass
class FallbackPlan:
    """The search's answer: float ``layers`` (ranked), why, and what was achieved."""

    layers: list[str]
    budget: Budget
    before: Any  # an Agreement (reference "fp32") or a LabelDrop ("labels")
    after: Any
    ranking: list[dict[str, Any]] = field(default_factory=list)
    evaluations: int = 0
    met: bool = True
    cost_label: str | None = None

    def to_dict(self, *, class_names: Sequence[str] | None = None) -> dict[str, Any]:
        def drops(a: Any) -> dict[str, Any]:
            cd = a.class_drops(min_pixels=self.budget.min_class_pixels)
            worst = max(cd, key=cd.get) if cd else None
            name = class_names[worst] if class_names and worst is not None else worst
            return {
                **describe(a),
                "drop": round(a.drop(), 4),
                "worst_class": name,
                "worst_class_drop": round(cd[worst], 4) if worst is not None else None,
            }

        chosen = {r["unit"]: r for r in self.ranking}
        return {
            "float_layers": list(self.layers),
            "why": [chosen[u] for u in self.layers if u in chosen],
            "ranking": [r["unit"] for r in self.ranking],  # the order more float layers would come in
            "budget": self.budget.to_dict(),
            "budget_met": self.met,
            "int8": drops(self.before),
            "mixed": drops(self.after),
            "evaluations": self.evaluations,
            "cost_unit": self.cost_label,
            "points_recovered": round(self.before.drop() - self.after.drop(), 4),
            "cost_added": (
                round(sum(chosen[u]["cost"] or 0.0 for u in self.layers if u in chosen), 6)
                if self.cost_label
                else None
            ),
            # float layers without a cost (not measurable): not in cost_added, listed instead of counted as 0
            "cost_unknown": [u for u in self.layers if u in chosen and chosen[u]["cost"] is None],
        }


def rank(
    sensitivity: dict[str, Any],
    budget: Budget,
    *,
    cost: dict[str, float] | None = None,
    prefer_cheap: bool = False,
) -> list[dict[str, Any]]:
    """The units most worth leaving in float first:
    [{"unit", "score", "drop", "worst_class_drop", "cost"}]."""
    full = budget.badness(Agreement.from_dict(sensitivity["int8"]))
    rows = []
    for unit, d in sensitivity["units"].items():
        a = Agreement.from_dict(d)
        b = budget.badness(a)
        score = b if sensitivity["mode"] == "isolated" else full - b  # leave-out: what float recovers
        cd = a.class_drops(min_pixels=budget.min_class_pixels)
        ms = None if cost is None else cost.get(unit)
        rows.append(
            {
                "unit": unit,
                "score": round(score, 4),
                "drop": round(a.drop(), 4),
                "worst_class_drop": round(max(cd.values(), default=0.0), 4),
                "cost": None if ms is None else round(ms, 4),
            }
        )
    if prefer_cheap and cost is not None:
        known = [r["cost"] for r in rows if r["cost"] is not None]
        typical = float(np.median(known)) if known else 1.0  # a unit without a cost: neither free nor dear

        def per_cost(r: dict[str, Any]) -> float:
            c = typical if r["cost"] is None else r["cost"]
            return -r["score"] / max(c, 1e-6)  # free or cheaper in float (<= 0): first, by score

        rows.sort(key=per_cost)
    else:
        rows.sort(key=lambda r: -r["score"])
    return rows


def search_fallback(
    qmodel: fx.GraphModule,
    float_model: nn.Module,
    *,
    batches: Sequence[np.ndarray],
    num_classes: int,
    sensitivity: dict[str, Any] | Callable[[], dict[str, Any]],
    budget: Budget,
    labels: np.ndarray | None = None,
    ignore_index: int = 255,
    cost: dict[str, float] | None = None,
    cost_label: str | None = None,
    prefer_cheap: bool = False,
    biases: dict[str, torch.Tensor | None] | None = None,
    device: str | torch.device = "cpu",
    log: Callable[[str], None] | None = None,
) -> FallbackPlan:
    """The fewest units to leave in float so that ``budget`` holds on ``batches`` (see the module docstring).

    ``sensitivity``: from ``layer_sensitivity`` on the same model and frames, or a function returning it,
    called only when the all-INT8 model misses the budget. ``labels`` (default none): the frames' ground
    truth, for ``budget.reference == "labels"`` (``ignore_index`` pixels, default 255, left out). ``cost``
    (default none): {unit: cost in float}; ``prefer_cheap`` ranks by score per unit of cost. Returns a
    FallbackPlan (``met`` False when even every ranked unit in float misses the budget; then all of them
    are listed; no ranking when the all-INT8 model already holds)."""
    ref = predict(float_model.to(device), batches, device=device)
    scorer = make_scorer(
        ref, num_classes=num_classes, reference=budget.reference, labels=labels, ignore_index=ignore_index
    )
    every = all_units(qmodel)
    seen: dict[tuple[str, ...], Any] = {}

    def score(layers: Sequence[str]) -> Any:
        k = tuple(sorted(layers))
        if k not in seen:
            m = with_float_layers(qmodel, k, biases=biases) if k else qmodel
            seen[k] = scorer(predict(m, batches, device=device))
        return seen[k]

    before = score(())
    if budget.holds(before):
        if log:
            log(
                f"fallback: all-INT8 already within the budget ({before.drop():.2f} points of "
                f"{REFERENCE_LABEL[budget.reference]}): no layer in float, no sensitivity pass"
            )
        return FallbackPlan([], budget, before, before, [], len(seen), True, cost_label)
    sens = sensitivity() if callable(sensitivity) else sensitivity
    ranking = rank(sens, budget, cost=cost, prefer_cheap=prefer_cheap)
    order = [r["unit"] for r in ranking]
    # shortest prefix: double, then bisect
    hi = 1
    while hi < len(order) and not budget.holds(score(order[:hi])):
        hi *= 2
    hi = min(hi, len(order))
    if not budget.holds(score(order[:hi])):
        layers = order[:hi]
        if log:
            log(f"fallback: the budget is not met even with {hi} of {len(every)} units in float")
        return FallbackPlan(layers, budget, before, score(layers), ranking, len(seen), False, cost_label)
    lo = hi // 2  # order[:lo] fails (or lo == 0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if budget.holds(score(order[:mid])):
            hi = mid
        else:
            lo = mid
    chosen = list(order[:hi])
    for unit in reversed(order[:hi]):  # least sensitive first
        trial = [u for u in chosen if u != unit]
        if budget.holds(score(trial)):
            chosen = trial
    after = score(chosen)
    if log:
        log(
            f"fallback: {len(chosen)} of {len(every)} units in float ({len(seen)} evaluations): "
            f"drop {summary_line((before, after), budget.reference)}"
        )
    return FallbackPlan(chosen, budget, before, after, ranking, len(seen), True, cost_label)
