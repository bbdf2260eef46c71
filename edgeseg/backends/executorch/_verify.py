"""``build --backend executorch --int8 --max-drop``: the budget checked on the built program itself.

The search ranks and chooses layers on edgeseg's symmetric fake quant, a proxy for the XNNPACK quantizer's
PT2E scheme (``quant.mixed_ptq.proxy_float_layers``), so a plan the proxy meets is no promise for the
program. Here the lowered program is scored on the same frames, against the same reference
(``quant.label_budget``): when it misses the budget, the next layers of the proxy's ranking go float too
(1, then 2, 4, ... more) and the program is lowered again, at most ``MAX_REBUILDS`` times. The card's
mixed record keeps every attempt (``program_checks``) and the final float layers.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

#: Extra lowerings after the first when the program misses the budget.
MAX_REBUILDS = 4


class ProgramBudget:
    """The budget frames (val split of ``val_data``) with their FP32 labels and ground truth, and the
    search's budget, to score built programs by."""

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
        self.score = make_scorer(
            fp32,
            num_classes=card.num_classes,
            reference=mixed.reference,
            labels=labels,
            ignore_index=card.ignore_index,
        )
        self.class_names = card.class_names

    def check(self, buffer: bytes, *, out: Path, threads: int | None) -> dict[str, Any]:
        """Score the program in ``buffer`` (staged in a temporary folder beside ``out``): {drop, worst
        class and its drop, met}."""
        from edgeseg.backends.executorch.runner import ExecuTorchRunner

        with tempfile.TemporaryDirectory(prefix=".edgeseg-et-check-", dir=out.parent) as tmp:
            staged = Path(tmp) / out.name
            staged.write_bytes(buffer)
            with ExecuTorchRunner(staged, threads=threads) as runner:
                preds = np.concatenate([runner.infer(b).argmax(1).astype(np.uint8) for b in self.batches])
        s = self.score(preds)
        cd = s.class_drops(min_pixels=self.budget.min_class_pixels)
        worst = max(cd, key=cd.get) if cd else None
        return {
            "drop": round(s.drop(), 4),
            "worst_class": None if worst is None else self.class_names[worst],
            "worst_class_drop": None if worst is None else round(cd[worst], 4),
            "met": self.budget.holds(s),
        }


def lower_within_budget(
    lower_once: Callable[[list[str]], Any],
    *,
    float_layers: list[str],
    record: dict[str, Any],
    checker: ProgramBudget,
    out: Path,
    threads: int | None,
    log: Callable[[str], None] = print,
) -> tuple[Any, list[str]]:
    """(the lowered program, its float layers): ``lower_once(float_layers)`` until the built program meets
    the budget or ``MAX_REBUILDS`` more lowerings (adding 1, 2, 4, ... layers of ``record["ranking"]``) or
    the ranking runs out. ``record`` (the card's mixed record) gets ``program_checks`` and, when layers
    were added, the final ``float_layers``."""
    ranking = [u for u in record.get("ranking", []) if not u.endswith("residual_quantizer")]
    layers, step, checks = list(float_layers), 1, []
    for attempt in range(MAX_REBUILDS + 1):
        lowered = lower_once(layers)
        c = checker.check(lowered.buffer, out=out, threads=threads)
        checks.append({"float_layers": len(layers), **c})
        log(
            f"the built program on the budget frames: drop {c['drop']:.2f} points, worst class "
            f"{c['worst_class']} {c['worst_class_drop']}: {'met' if c['met'] else 'missed'}"
        )
        more = [u for u in ranking if u not in layers][:step]
        if c["met"] or not more or attempt == MAX_REBUILDS:
            break
        log(f"the program misses the budget the proxy met: {len(more)} more layer(s) float, lowering again")
        layers += more
        step *= 2
    record["program_checks"] = checks
    record["program_budget_met"] = checks[-1]["met"]
    if len(layers) != len(float_layers):
        record["proxy_float_layers"] = list(float_layers)
        record["float_layers"] = list(layers)
    if not checks[-1]["met"]:
        log(
            f"WARNING: the built program misses the budget with {len(layers)} layers float "
            f"({checks[-1]['drop']:.2f} points); the card records it (mixed.program_checks)"
        )
    return lowered, layers
