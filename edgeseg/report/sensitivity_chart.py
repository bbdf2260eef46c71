"""Per-layer INT8 sensitivity chart and the mixed-precision trade-off table (points recovered vs cost).

Input: the ``layer_sensitivity`` result and, optionally, the card's mixed record
(``card.extra["quantization"]["mixed"]``). The chart shows each unit's drop (points of mIoU@FP32
when it alone is INT8, or what leaving it in float recovers) and its worst class, the float layers
the search chose highlighted.
"""

from __future__ import annotations

from typing import Any, Sequence

from edgeseg.report._plot import Chart, _figure, _png

#: Units shown on the chart (the most sensitive first).
TOP = 30


def _rows(sens: dict[str, Any], *, min_pixels: int) -> list[tuple[str, float, float]]:
    from edgeseg.quant.sensitivity import Agreement

    full = Agreement.from_dict(sens["int8"])
    out = []
    for unit, d in sens["units"].items():
        a = Agreement.from_dict(d)
        worst = max(a.class_drops(min_pixels=min_pixels).values(), default=0.0)
        if sens["mode"] == "leave-out":  # what leaving the unit in float recovers
            fw = max(full.class_drops(min_pixels=min_pixels).values(), default=0.0)
            out.append((unit, full.drop() - a.drop(), fw - worst))
        else:
            out.append((unit, a.drop(), worst))
    return out


def sensitivity_chart(
    sens: dict[str, Any],
    *,
    mixed: dict[str, Any] | None = None,
    title: str = "",
    top: int = TOP,
    min_pixels: int = 1000,
) -> Chart:
    """Horizontal bars: the ``top`` (default 30) most sensitive units, mean drop and worst class drop."""
    rows = sorted(_rows(sens, min_pixels=min_pixels), key=lambda r: -max(r[1], r[2]))[:top]
    chosen = set((mixed or {}).get("float_layers", []))
    if not rows:
        return Chart("sensitivity", title or "per-layer sensitivity", None, "no units scored")
    fig = _figure(8.5, 0.28 * len(rows) + 1.6)
    ax = fig.add_subplot(1, 1, 1)
    ys = list(range(len(rows)))[::-1]
    ax.barh(
        [y + 0.2 for y in ys], [r[1] for r in rows], height=0.4, color="#1f77b4", label="mean (mIoU@FP32)"
    )
    ax.barh(
        [y - 0.2 for y in ys],
        [r[2] for r in rows],
        height=0.4,
        color="#ff7f0e",
        label="worst class (IoU@FP32)",
    )
    ax.set_yticks(ys)
    ax.set_yticklabels([("* " if r[0] in chosen else "") + r[0] for r in rows], fontsize=7)
    for lab, r in zip(ax.get_yticklabels(), rows):
        if r[0] in chosen:
            lab.set_color("#d62728")
            lab.set_fontweight("bold")
    what = (
        "drop with only this layer INT8"
        if sens["mode"] == "isolated"
        else "recovered with this layer in float"
    )
    ax.set_xlabel(f"points ({what}; {sens['frames']} val frames)")
    ax.set_xscale("symlog", linthresh=0.1)
    ax.grid(axis="x", alpha=0.3)
    if mixed:
        b = mixed["budget"]
        ax.axvline(b["max_drop"], color="#1f77b4", ls="--", lw=0.8)
        ax.axvline(b["class_drop"], color="#ff7f0e", ls=":", lw=0.8)
    ax.legend(loc="lower right", fontsize=7)
    note = f"* = left in float ({len(chosen)} layers)" if chosen else ""
    ax.set_title(
        title or f"per-layer INT8 sensitivity (top {len(rows)} of {len(sens['units'])}) {note}", fontsize=9
    )
    fig.tight_layout()
    return Chart("sensitivity", title or "per-layer sensitivity", _png(fig), note)


#: The cost column's heading when the cost was measured, by ``cost_source``.
MEASURED = {"openvino": "ms added (measured, OpenVINO)"}


def tradeoff_table(mixed: dict[str, Any], *, class_names: Sequence[str] | None = None) -> str:
    """Markdown: each float layer's sensitivity and cost, then points recovered vs cost added. A measured
    cost (``cost_source`` "openvino") is headed "ms added (measured, OpenVINO)" and its label (machine,
    version) follows the table; float layers whose cost could not be measured are named, not counted."""
    unit = mixed.get("cost_unit") or "cost"
    measured = MEASURED.get(mixed.get("cost_source") or "")
    head = measured or f"cost ({unit})"
    short = "ms" if measured else unit
    lines = [
        f"| float layer | drop alone INT8 (points) | worst class (points) | {head} |",
        "|---|---:|---:|---:|",
    ]
    for w in mixed.get("why", []):
        c = "n/a" if w.get("cost") is None else f"{w['cost']:.4g}"
        lines.append(f"| `{w['unit']}` | {w['drop']:.2f} | {w['worst_class_drop']:.2f} | {c} |")
    i8, mx = mixed["int8"], mixed["mixed"]
    added = mixed.get("cost_added")
    lines.append("")
    lines.append(
        f"All INT8: {i8['drop']:.2f} points of mIoU@FP32 (worst class {i8['worst_class']}: "
        f"{i8['worst_class_drop']:.2f}); with {len(mixed['float_layers'])} layers in float: {mx['drop']:.2f} "
        f"(worst class {mx['worst_class']}: {mx['worst_class_drop']:.2f}). Recovered "
        f"{mixed['points_recovered']:.2f} points for "
        + (
            "n/a"
            if added is None
            else f"{added:.4g} {short}{' added' if measured else ''} of {mixed.get('total_cost', 0):.4g} "
            "in total"
        )
        + f"; budget {mixed['budget']['max_drop']:g} mean / {mixed['budget']['class_drop']:g} per class"
        + (" (met)." if mixed.get("budget_met") else " (NOT met).")
    )
    unknown = mixed.get("cost_unknown") or []
    if unknown:
        lines.append(f"Not measured (not in the total): {', '.join(f'`{u}`' for u in unknown)}.")
    if measured:
        lines.append(f"Cost: {unit}.")
    return "\n".join(lines)
