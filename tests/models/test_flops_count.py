"""FLOPs counting: exact on a single conv, scales with area and batch, meta device == CPU."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from edgeseg.bench.flops import count_flops, model_complexity
from edgeseg.models import build_model, count_parameters


def test_single_conv_counts_two_flops_per_multiply_accumulate():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    assert count_flops(conv, size=(10, 12)) == 2 * (3 * 9) * 8 * 10 * 12
    dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
    x = nn.Sequential(nn.Conv2d(3, 8, 1, bias=False), dw)
    assert count_flops(x, size=(10, 12)) == 2 * 10 * 12 * (3 * 8 + 9 * 8)


@pytest.mark.parametrize("name", ["cgnet", "deeplabv3plus_mobilenetv2", "pspnet"])
def test_flops_grow_with_input_area_and_batch(name):
    small = model_complexity(name, num_classes=11, size=(64, 96))["gflops"]
    big = model_complexity(name, num_classes=11, size=(128, 192))["gflops"]
    assert 3.6 < big / small < 4.4
    with torch.device("meta"):
        model = build_model(name, num_classes=11)
    assert count_flops(model, size=(64, 96), batch=3) == 3 * count_flops(model, size=(64, 96))


def test_meta_device_count_equals_cpu_count_and_mode_is_restored():
    cpu = build_model("cgnet", num_classes=11).train()
    flops = count_flops(cpu, size=(64, 96))
    assert cpu.training  # restored
    by_name = model_complexity("cgnet", num_classes=11, size=(64, 96))
    assert by_name == {"params": count_parameters(cpu), "gflops": flops / 1e9}
    assert model_complexity(cpu, size=(64, 96)) == by_name


def test_cgnet_at_camvid_size_is_near_the_published_figure():
    # CGNet M=3 N=21, 11 classes, 360x480, counted as 2 x MACs: ~4.45 GFLOP
    c = model_complexity("cgnet", num_classes=11, size=(360, 480))
    assert c["params"] == 494_258
    assert c["gflops"] == pytest.approx(4.45, abs=0.05)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="positive"):
        count_flops(nn.Conv2d(3, 3, 1), size=(0, 10))
