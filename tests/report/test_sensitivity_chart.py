"""The per-layer sensitivity chart and the trade-off table from a hand-made sensitivity result."""

from __future__ import annotations

from edgeseg.report.sensitivity_chart import sensitivity_chart, tradeoff_table

N = 3


def _a(miou: float, worst: float) -> dict:
    return {"miou": miou, "per_class": [miou, worst, miou], "pixels": [5000] * N}


SENS = {
    "mode": "isolated",
    "frames": 4,
    "int8": _a(0.95, 0.80),
    "units": {"stem": _a(0.999, 0.998), "mid": _a(0.96, 0.85), "head": _a(0.998, 0.99)},
}


def test_chart_is_a_png_that_marks_the_float_layers():
    mixed = {"float_layers": ["mid"], "budget": {"max_drop": 0.3, "class_drop": 1.0}}
    c = sensitivity_chart(SENS, mixed=mixed)
    assert c.png[:8] == b"\x89PNG\r\n\x1a\n" and "1 layers" in c.note
    assert sensitivity_chart({**SENS, "units": {}}).png is None


def test_tradeoff_table_lists_layers_and_totals():
    from edgeseg.quant.fallback_search import Budget, rank

    rows = {
        r["unit"]: r for r in rank(SENS, Budget(max_drop=0.3), cost={"mid": 0.5, "stem": 0.1, "head": 0.2})
    }
    mixed = {
        "float_layers": ["mid"],
        "why": [rows["mid"]],
        "budget": {"max_drop": 0.3, "class_drop": 1.0},
        "budget_met": True,
        "int8": {"drop": 5.0, "worst_class": "b", "worst_class_drop": 20.0},
        "mixed": {"drop": 0.2, "worst_class": "a", "worst_class_drop": 0.9},
        "points_recovered": 4.8,
        "cost_added": 0.5,
        "total_cost": 0.8,
        "cost_unit": "GFLOP",
    }
    t = tradeoff_table(mixed)
    assert "| `mid` | 4.00 | 15.00 | 0.5 |" in t
    assert "Recovered 4.80 points for 0.5 GFLOP of 0.8 in total" in t and "(met)" in t


def test_tradeoff_table_heads_a_measured_cost_and_names_the_unmeasured():
    mixed = {
        "float_layers": ["mid", "res.residual_quantizer"],
        "why": [
            {"unit": "mid", "drop": 4.0, "worst_class_drop": 15.0, "cost": 0.25},
            {"unit": "res.residual_quantizer", "drop": 1.0, "worst_class_drop": 2.0, "cost": None},
        ],
        "budget": {"max_drop": 0.3, "class_drop": 1.0},
        "budget_met": True,
        "int8": {"drop": 5.0, "worst_class": "b", "worst_class_drop": 20.0},
        "mixed": {"drop": 0.2, "worst_class": "a", "worst_class_drop": 0.9},
        "points_recovered": 4.8,
        "cost_added": 0.25,
        "cost_unknown": ["res.residual_quantizer"],
        "total_cost": 1.5,
        "cost_source": "openvino",
        "cost_unit": "ms per frame added, measured on OpenVINO 2026.4 CPU X (2 threads), per-node profile",
    }
    t = tradeoff_table(mixed)
    assert (
        "| float layer | drop alone INT8 (points) | worst class (points) | ms added (measured, OpenVINO) |"
        in t
    )
    assert "| `mid` | 4.00 | 15.00 | 0.25 |" in t and "| `res.residual_quantizer` | 1.00 | 2.00 | n/a |" in t
    assert "Recovered 4.80 points for 0.25 ms added of 1.5 in total" in t
    assert "Not measured (not in the total): `res.residual_quantizer`." in t
    assert "Cost: ms per frame added, measured on OpenVINO 2026.4 CPU X (2 threads)" in t
    flops = tradeoff_table({**mixed, "cost_source": "flops", "cost_unit": "GFLOP"})
    assert "ms added" not in flops and "| cost (GFLOP) |" in flops
