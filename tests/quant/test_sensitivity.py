"""Per-layer sensitivity and the greedy fallback on a small synthetic model with ONE layer that INT8
destroys: conv ``b`` reads a tensor with one huge-range channel (x 1e4) that its float weights ignore,
so its per-tensor input quantizer rounds the channels that matter to zero. The search must keep exactly
``b`` in float."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn

from edgeseg.quant.calibrate import calibrate
from edgeseg.quant.fallback_search import Budget, rank, search_fallback
from edgeseg.quant.mixed import units, with_float_layers
from edgeseg.quant.placement import prepare
from edgeseg.quant.sensitivity import agreement, layer_sensitivity, predict

CLASSES = 4


class Planted(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 8, 3, padding=1)
        self.c = nn.Conv2d(8, 8, 1)
        self.head = nn.Conv2d(8, CLASSES, 1)
        for m in (self.a, self.b, self.c, self.head):
            nn.init.normal_(m.weight, std=0.5, generator=g)
            nn.init.normal_(m.bias, std=0.1, generator=g)
        gain = torch.ones(1, 8, 1, 1)
        gain[0, 0] = 1e4  # one huge-range channel
        self.register_buffer("gain", gain)
        with torch.no_grad():
            self.b.weight[:, 0] = 0.0  # float b ignores that channel; its INT8 input quantizer cannot

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.a(x)) * self.gain
        y = torch.relu(self.b(y))
        y = torch.relu(self.c(y))
        return self.head(y)


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = Planted().eval()
    batches = [np.random.default_rng(i).standard_normal((4, 3, 24, 32)).astype(np.float32) for i in range(3)]
    with torch.no_grad():  # centre each class's logit so that every class is predicted on many pixels
        logits = torch.cat([model(torch.from_numpy(b)) for b in batches])
        model.head.bias -= logits.mean(dim=(0, 2, 3))
    qmodel, _ = prepare(model)
    calibrate(qmodel, batches, method="max", progress=False)
    return model, qmodel, batches


def test_units_and_float_copy_leave_the_model_alone(setup):
    model, qmodel, batches = setup
    assert units(qmodel) == ["a", "b", "c", "head"]
    every = with_float_layers(qmodel, units(qmodel))
    x = torch.from_numpy(batches[0])
    with torch.no_grad():
        torch.testing.assert_close(every(x), model(x), rtol=1e-5, atol=1e-4)  # all float = the FP32 model
        assert not torch.allclose(qmodel(x), model(x), atol=1e-3)  # the original is still INT8
    assert every.float_layers == ["a", "b", "c", "head"]


def test_planted_layer_is_the_most_sensitive(setup, tmp_path):
    model, qmodel, batches = setup
    cache = tmp_path / "sens.json"
    sens = layer_sensitivity(qmodel, model, batches=batches, num_classes=CLASSES, cache=cache, progress=False)
    drops = {u: 100 * (1 - d["miou"]) for u, d in sens["units"].items()}
    assert max(drops, key=drops.get) == "b"
    assert drops["b"] > 20 and all(drops[u] < 5 for u in ("a", "c", "head")), drops
    assert 100 * (1 - sens["int8"]["miou"]) > 20
    # a rerun reads every unit from the cache (the cache holds the planted result, not a recomputation)
    data = cache.read_text()
    again = layer_sensitivity(
        qmodel, model, batches=batches, num_classes=CLASSES, cache=cache, progress=False
    )
    assert again["units"] == sens["units"] and cache.read_text() == data
    # other float biases are another key: scored again, not read from the cache
    from edgeseg.quant.mixed_ptq import float_biases

    other = layer_sensitivity(
        qmodel,
        model,
        batches=batches,
        num_classes=CLASSES,
        cache=cache,
        biases=float_biases(model),
        progress=False,
    )
    assert (
        json.loads(cache.read_text())["key"] != json.loads(data)["key"]
        and other["units"].keys() == sens["units"].keys()
    )


def test_leave_out_mode_ranks_the_planted_layer_first(setup):
    model, qmodel, batches = setup
    sens = layer_sensitivity(
        qmodel, model, batches=batches, num_classes=CLASSES, mode="leave-out", progress=False
    )
    assert rank(sens, Budget(max_drop=1.0))[0]["unit"] == "b"


def test_search_keeps_exactly_the_planted_layer_in_float(setup):
    model, qmodel, batches = setup
    sens = layer_sensitivity(qmodel, model, batches=batches, num_classes=CLASSES, progress=False)
    budget = Budget(
        max_drop=10.0, class_drop=10.0, min_class_pixels=100
    )  # above plain INT8 noise here (~4-6)
    plan = search_fallback(
        qmodel, model, batches=batches, num_classes=CLASSES, sensitivity=sens, budget=budget
    )
    assert plan.met and plan.layers == ["b"]
    assert plan.after.drop() <= 10.0 < plan.before.drop()
    mixed = with_float_layers(qmodel, plan.layers)
    ref = predict(model, batches)
    assert budget.holds(agreement(predict(mixed, batches), ref, num_classes=CLASSES))
    d = plan.to_dict()
    assert d["float_layers"] == ["b"] and d["why"][0]["unit"] == "b" and d["budget"]["max_drop"] == 10.0


def test_budget_rejects_nonsense():
    from edgeseg.errors import QuantizationError

    with pytest.raises(QuantizationError, match="max_drop"):
        Budget(max_drop=0.0)
    with pytest.raises(QuantizationError, match="class_drop"):
        Budget(max_drop=0.3, class_drop=float("nan"))


def test_flops_cost_and_prefer_cheap(setup):
    from edgeseg.quant.layer_cost import flops_cost

    model, qmodel, batches = setup
    cost = flops_cost(qmodel, batches[0])
    assert cost["a"] == pytest.approx(2 * 24 * 32 * 8 * 3 * 9 / 1e9)
    assert cost["c"] == pytest.approx(2 * 24 * 32 * 8 * 8 / 1e9)
    assert cost["head"] == pytest.approx(2 * 24 * 32 * CLASSES * 8 / 1e9)
    sens = {
        "mode": "isolated",
        "int8": {"miou": 0.5, "per_class": [0.5] * CLASSES, "pixels": [5000] * CLASSES},
        "units": {  # b twice as bad as head, but 18x as costly: per GFLOP head comes first
            "b": {"miou": 0.8, "per_class": [0.8] * CLASSES, "pixels": [5000] * CLASSES},
            "head": {"miou": 0.9, "per_class": [0.9] * CLASSES, "pixels": [5000] * CLASSES},
        },
    }
    budget = Budget(max_drop=1.0)
    assert [r["unit"] for r in rank(sens, budget)] == ["b", "head"]
    assert [r["unit"] for r in rank(sens, budget, cost=cost, prefer_cheap=True)] == ["head", "b"]


def test_prefer_cheap_gives_an_unmeasured_unit_the_median_cost():
    """A unit whose cost is None (not measurable) is neither free nor dear: it is ranked at the median
    of the known costs, and a unit cheaper in float than in INT8 (cost <= 0) comes first."""
    sens = {
        "mode": "isolated",
        "int8": {"miou": 0.5, "per_class": [0.5] * CLASSES, "pixels": [5000] * CLASSES},
        "units": {
            u: {"miou": m, "per_class": [m] * CLASSES, "pixels": [5000] * CLASSES}
            for u, m in (("dear", 0.7), ("unknown", 0.8), ("cheap", 0.9), ("free", 0.99), ("mid", 0.85))
        },
    }
    cost = {"dear": 10.0, "unknown": None, "cheap": 0.1, "free": -0.01, "mid": 1.0}
    order = [r["unit"] for r in rank(sens, Budget(max_drop=1.0), cost=cost, prefer_cheap=True)]
    # scores 30, 20, 10, 1, 15 (points / max_drop); per cost: free first, then cheap (100), unknown at the
    # median 0.55 (36), mid (15), dear (3)
    assert order == ["free", "cheap", "unknown", "mid", "dear"]
    assert (
        next(r for r in rank(sens, Budget(max_drop=1.0), cost=cost) if r["unit"] == "unknown")["cost"] is None
    )


def test_onnx_nodes_reads_nested_scopes_of_an_fp32_export(trained_ckpt, tmp_path):
    """The TorchScript exporter names a Sequential's child by its parent's attribute
    ("/stage2_down/conv/conv.0/Conv"): every weighted unit of a CGNet has its FP32 node."""
    import onnx

    from edgeseg.export.onnx import export_onnx
    from edgeseg.quant.mixed import onnx_nodes
    from edgeseg.train.checkpoint import load_checkpoint

    model, card, _ = load_checkpoint(trained_ckpt)
    proto = onnx.load(str(export_onnx(model, card, tmp_path / "f.onnx")))
    weighted = [u for u in units(prepare(model)[0]) if not u.endswith("residual_quantizer")]
    assert "stage2_down.conv.0" in weighted
    for u in weighted:
        assert onnx_nodes(proto, [u]), u


def test_cost_table_takes_a_measured_file_of_this_model_at_this_size_only(setup, tmp_path):
    from types import SimpleNamespace

    from edgeseg.errors import QuantizationError
    from edgeseg.quant.layer_cost import FLOPS_LABEL, cost_table

    model, qmodel, batches = setup
    card = SimpleNamespace(input_size=(24, 32))
    rec = {
        "kind": "edgeseg.layer_cost",
        "source": "openvino",
        "label": "ms per frame added, measured on OpenVINO",
        "costs": {"a": 0.1, "b": 2.0, "c": None, "head": -0.01},
        "input_size": [24, 32],
    }
    f = tmp_path / "cost.json"

    def table(r):
        f.write_text(json.dumps(r), encoding="utf-8")
        return cost_table(str(f), qmodel, model, card, batches[0])

    assert table(rec)["costs"] == rec["costs"]
    with pytest.raises(QuantizationError, match="measured at 48x64, but this model is quantized at 24x32"):
        table({**rec, "input_size": [48, 64]})
    with pytest.raises(QuantizationError, match=r"measured another model \(1 of this model's 4 units"):
        table({**rec, "costs": {"a": 0.1, "b": 2.0, "c": None}})
    with pytest.raises(QuantizationError, match="needs a measuring function"):
        cost_table("openvino", qmodel, model, card, batches[0])
    measured = cost_table("openvino", qmodel, model, card, batches[0], measure=lambda q, m, c: rec)
    assert measured["source"] == "openvino"
    flops = cost_table("flops", qmodel, model, card, batches[0])
    assert (
        flops["source"] == "flops"
        and flops["label"] == FLOPS_LABEL
        and set(flops["costs"]) == set(rec["costs"])
    )


class InvertedResidual(nn.Module):
    """MobileNetV2's block: the identity branch of the Add reads the same value as the expand conv, so
    TensorRT's placement gives both one quantizer (the conv's input quantizer)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.expand = nn.Conv2d(8, 16, 1)
        self.project = nn.Conv2d(16, 8, 1)
        self.head = nn.Conv2d(8, CLASSES, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.stem(x))
        y = y + self.project(torch.relu(self.expand(y)))
        return self.head(y)


def test_every_unit_float_is_the_fp32_model_through_a_residual_identity():
    """DS-v3+ once could not meet any budget: with every unit float, the identity branches of its
    inverted residual blocks still read the expand convs' input quantizers (5 Q/DQ left)."""
    torch.manual_seed(0)
    model = InvertedResidual().eval()
    batches = [np.random.default_rng(i).standard_normal((2, 3, 16, 16)).astype(np.float32) for i in range(2)]
    qmodel, _ = prepare(model)
    calibrate(qmodel, batches, method="max", progress=False)
    every = with_float_layers(qmodel, units(qmodel))
    x = torch.from_numpy(batches[0])
    with torch.no_grad():
        torch.testing.assert_close(every(x), model(x), rtol=1e-5, atol=1e-5)
    # the expand conv alone in float: the projection and the stem stay INT8, and the Add's identity
    # reads float (its quantizer fed nothing else once the conv went float)
    one = with_float_layers(qmodel, ["expand"])
    with torch.no_grad():
        assert not torch.allclose(one(x), model(x), atol=1e-4)
    quantizers = [n.target for n in one.graph.nodes if n.op == "call_module" and "quantizer" in str(n.target)]
    assert not any(q.startswith("expand.") for q in quantizers), quantizers


# --drop-reference labels on the planted model: labels equal to FP32's predictions make both references
# the same search; labels equal to INT8's own predictions make INT8 the better model, so a label budget
# holds with no float layer (and no sensitivity pass) while mIoU@FP32 needs ``b``.


def test_labels_equal_to_fp32_give_the_same_plan(setup):
    model, qmodel, batches = setup
    sens = layer_sensitivity(qmodel, model, batches=batches, num_classes=CLASSES, progress=False)
    plans = {}
    for ref in ("fp32", "labels"):
        budget = Budget(max_drop=10.0, class_drop=10.0, min_class_pixels=100, reference=ref)
        plans[ref] = search_fallback(
            qmodel,
            model,
            batches=batches,
            num_classes=CLASSES,
            sensitivity=sens,
            budget=budget,
            labels=predict(model, batches),
        )
    assert plans["fp32"].layers == plans["labels"].layers == ["b"]
    assert plans["labels"].before.drop() == pytest.approx(plans["fp32"].before.drop())
    d = plans["labels"].to_dict()
    assert d["budget"]["drop_reference"] == "labels" and d["int8"]["fp32_label_miou"] == 1.0
    assert "label_miou" in d["mixed"] and "miou_at_fp32" not in d["mixed"]


def test_labels_budget_holding_at_int8_skips_the_sensitivity_pass(setup):
    model, qmodel, batches = setup
    int8_labels = predict(qmodel, batches)  # INT8 is right by these labels, FP32 is not

    def sensitivity():
        raise AssertionError("scored every layer although all-INT8 already meets the budget")

    kw = dict(batches=batches, num_classes=CLASSES, sensitivity=sensitivity, labels=int8_labels)
    plan = search_fallback(qmodel, model, budget=Budget(max_drop=0.3, reference="labels"), **kw)
    assert plan.met and plan.layers == [] and plan.before.drop() < -10  # INT8 far better than FP32 here
    assert plan.ranking == [] and plan.evaluations == 1
    with pytest.raises(AssertionError, match="scored every layer"):  # mIoU@FP32 misses: the pass runs
        search_fallback(qmodel, model, budget=Budget(max_drop=0.3), **kw)


def test_float_share_counts_the_float_layers_flops(setup):
    from edgeseg.quant.mixed_ptq import float_share

    _, qmodel, batches = setup
    every = units(qmodel)
    assert float_share(qmodel, every, batches[0]) == 1.0 and float_share(qmodel, [], batches[0]) == 0.0
    b = float_share(qmodel, ["b"], batches[0])  # 8x8x3x3 of 3x8x3x3 + 8x8x3x3 + 8x8 + 8x4 MACs per pixel
    assert b == pytest.approx(576 / (216 + 576 + 64 + 32), abs=0.01)
