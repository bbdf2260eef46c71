"""The measured per-layer cost of a float fallback on OpenVINO CPU (issue 32): one pair of per-node
profiles (all-INT8 Q/DQ IR, FP32 IR), mapped back to the units.

- on a small model with ONE planted expensive conv (64 -> 64 channels, 3x3, at 64x64: ~150x the math of
  any other layer), that conv costs the most in float;
- on the tiny CGNet every weighted unit is found in both profiles, and the residual quantizers are
  reported as not measured (with why), never as 0;
- the attribution counts a fused node once and names the units it could not find.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

pytest.importorskip("openvino")

from edgeseg.bench.layer_cost_openvino import (  # noqa: E402
    OnnxNode,
    attribute,
    measure_checkpoint,
    measure_layer_cost,
)
from edgeseg.quant.calibrate import calibrate  # noqa: E402
from edgeseg.quant.layer_cost import COST_FILE_KIND, check_covers, read_cost_file  # noqa: E402
from edgeseg.quant.placement import prepare  # noqa: E402

SIZE = (64, 64)


class Costly(nn.Module):
    """stem (3 -> 8, 1x1), big (8 -> 64 -> 64, 3x3: the planted one), tail (64 -> 8, 1x1), head (8 -> 4)."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.stem = nn.Conv2d(3, 8, 1)
        self.widen = nn.Conv2d(8, 64, 1)
        self.big = nn.Conv2d(64, 64, 3, padding=1)
        self.tail = nn.Conv2d(64, 8, 1)
        self.head = nn.Conv2d(8, 4, 1)
        for m in self.children():
            nn.init.normal_(m.weight, std=0.3, generator=g)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.stem(x))
        y = torch.relu(self.widen(y))
        y = torch.relu(self.big(y))
        y = torch.relu(self.tail(y))
        return self.head(y)


def small_card(num_classes: int = 4):
    from edgeseg.card import ModelCard

    return ModelCard(
        arch="cgnet",
        arch_args={},
        num_classes=num_classes,
        class_names=[f"c{i}" for i in range(num_classes)],
        palette=[[i * 40, 0, 0] for i in range(num_classes)],
        ignore_index=255,
        input_size=SIZE,
    )


@pytest.fixture(scope="module")
def costly_table(tmp_path_factory):
    model = Costly().eval()
    qmodel, _ = prepare(model)
    x = np.random.default_rng(0).random((2, 3, *SIZE)).astype(np.float32)
    calibrate(qmodel, [x], method="max", progress=False)
    keep = tmp_path_factory.mktemp("costly")
    return measure_layer_cost(
        qmodel, model, small_card(), runs=7, warmup=2, threads=1, workdir=keep, log=print
    )


def test_the_planted_big_conv_costs_the_most(costly_table):
    t = costly_table
    costs = t["costs"]
    assert set(costs) == {"stem", "widen", "big", "tail", "head"} and t["missing"] == {}
    assert max(costs, key=costs.get) == "big", costs
    others = max(abs(v) for u, v in costs.items() if u != "big")
    assert costs["big"] > 3 * others, costs  # ~150x the math: far above the others, not a near tie
    d = t["nodes"]["big"]
    assert costs["big"] == pytest.approx(d["fp32_ms"] - d["int8_ms"], abs=1e-5)
    assert t["source"] == "openvino" and t["kind"] == COST_FILE_KIND and t["unit"] == "ms"
    assert t["label"].startswith("ms per frame added, measured on OpenVINO ") and "(1 threads)" in t["label"]
    assert t["machine"]["threads"] == 1 and t["machine"]["cpu"] and t["input_size"] == list(SIZE)


def test_the_model_given_is_not_changed(tmp_path):
    model = Costly().eval()
    qmodel, _ = prepare(model)
    x = np.random.default_rng(0).random((2, 3, *SIZE)).astype(np.float32)
    calibrate(qmodel, [x], method="max", progress=False)
    with torch.no_grad():
        before = qmodel(torch.from_numpy(x)).clone()
    measure_layer_cost(qmodel, model, small_card(), runs=1, warmup=0, threads=1, log=lambda m: None)
    with torch.no_grad():
        torch.testing.assert_close(qmodel(torch.from_numpy(x)), before)


def test_every_weighted_unit_of_cgnet_is_found(tiny_artifacts, tmp_path):
    """The tiny CGNet (depthwise convs folded with the BatchNormalization the CPU rewrite moves after
    them, named Multiply_N in the IR; convs split over a Concat, dilated, PReLU, FGlo): every unit maps
    to executed nodes in both profiles (nothing reported missing, nothing silently 0)."""
    from edgeseg.bench.layer_cost_openvino import write_cost_file
    from edgeseg.quant.mixed import units
    from edgeseg.train.checkpoint import load_checkpoint

    t = measure_checkpoint(tiny_artifacts["pt"], runs=1, warmup=0, threads=1, log=lambda m: None)
    every = units(prepare(load_checkpoint(tiny_artifacts["pt"])[0])[0])
    assert list(t["costs"]) == every and len(every) > 20
    assert t["missing"] == {} and all(t["costs"][u] is not None for u in every)
    assert set(t["nodes"]) == set(every)
    folded = [u for u in every if u.endswith("f_loc")]  # depthwise + BN: found by its output tensor
    assert folded and all(t["nodes"][u]["fp32_nodes"] for u in folded)
    # the file round-trips and covers this model's units (what --layer-cost FILE.json checks)
    path = write_cost_file(t, tmp_path / "cost.json")
    again = read_cost_file(path)
    assert again["costs"] == t["costs"]
    check_covers(again, list(t["costs"]), where="x")


def test_attribution_counts_a_fused_node_once_and_names_what_it_cannot_find():
    unit_onnx = {
        "a": [OnnxNode("/a/Conv", ("/a/Conv_output_0",))],
        "b": [OnnxNode("/b/Conv", ("/b/Conv_output_0",))],
        "c": [OnnxNode("/c/Conv", ("/c/Conv_output_0",))],
        "head": [OnnxNode("/head/Conv", ("logits",))],
        "dw": [OnnxNode("/dw/Conv", ("/dw/Conv_output_0",))],
        "r.residual_quantizer": [],
    }
    fused = {
        "/a/Conv/WithoutBiases": ["/a/Conv/WithoutBiases", "/a/Conv", "/b/Conv"],  # a and b in one node
        "/c/Conv/WithoutBiases": ["/c/Conv/WithoutBiases", "/c/Conv"],
        "logits": ["logits"],  # OpenVINO names the op making a graph output after the output
        # a depthwise Conv folded with the BatchNormalization after it: no node name left, only the IR
        # op's output tensor names
        "Multiply_7": ["Multiply_7", "/bn/BatchNormalization_output_0_part0", "/dw/Conv_output_0"],
        "Reorder_1": [],
    }
    executed = {"/a/Conv/WithoutBiases", "logits", "Multiply_7", "Reorder_1"}
    nodes, why = attribute(unit_onnx, fused, executed)
    assert nodes == {"a": ["/a/Conv/WithoutBiases"], "head": ["logits"], "dw": ["Multiply_7"]}
    assert why["b"] == "fused into /a/Conv/WithoutBiases, counted under a"
    assert "no executed OpenVINO node fuses ONNX node /c/Conv" in why["c"]  # /c was not executed
    assert "residual quantizer" in why["r.residual_quantizer"]
    # "/a/Conv_1" is another node, not a part of "/a/Conv"
    nodes, why = attribute({"a": [OnnxNode("/a/Conv", ("y",))]}, {"n": ["/a/Conv_1"]}, executed={"n"})
    assert nodes == {} and "a" in why
