"""Calibration statistics and the four range methods; NaN statistics name the layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeseg.errors import QuantizationError
from edgeseg.quant.calibrate import (
    METHODS,
    Histogram,
    calibrate,
    collect_statistics,
    compute_amax,
    is_calibrated,
    load_amax,
)


def _hist(*arrays) -> Histogram:
    h = Histogram("t")
    for a in arrays:
        h.collect(torch.as_tensor(a, dtype=torch.float32))
    return h


def test_max_is_exact_and_histogram_grows():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(20000, generator=g), 3 * torch.randn(20000, generator=g)
    h = _hist(a, b)
    assert compute_amax(h, "max") == pytest.approx(float(torch.cat([a, b]).abs().max()))
    assert h.counts.sum() == 40000  # nothing fell outside the grown range
    assert h.edges[-1] >= h.amax


def test_percentile_is_the_first_bin_edge_covering_p():
    x = torch.randn(200_000, generator=torch.Generator().manual_seed(1))
    a = np.sort(x.abs().numpy())
    h = _hist(x)
    for p in (99.0, 99.9, 99.99):
        amax = compute_amax(h, "percentile", percentile=p)
        covered = np.searchsorted(a, amax, side="right") / a.size
        below = np.searchsorted(a, amax - 1.01 * h.width, side="right") / a.size
        assert covered >= p / 100 > below - 1e-12
        assert abs(amax - np.percentile(a, p)) < 0.05
    with pytest.raises(QuantizationError, match="percentile"):
        compute_amax(h, "percentile", percentile=0)


def test_entropy_and_mse_clip_outliers_but_not_uniform_data():
    g = torch.Generator().manual_seed(2)
    gauss = torch.cat([torch.randn(200_000, generator=g), torch.tensor([60.0])])
    h = _hist(gauss)
    assert compute_amax(h, "entropy") < 10 < 60 == compute_amax(h, "max")
    uniform = _hist(torch.rand(200_000, generator=g) * 2 - 1)
    assert compute_amax(uniform, "mse") == pytest.approx(1.0, rel=0.05)  # nothing to gain by clipping
    assert compute_amax(uniform, "entropy") == pytest.approx(1.0, rel=0.1)


def test_entropy_ignores_the_spike_of_zeros_after_relu():
    # TensorRT / pytorch-quantization flatten the zero bin before the KL search; without that, half
    # the values being exactly 0 pulled a ReLU'd Gaussian's clip to ~1.9 sigma and the shipped CGNet lost 19
    # points.
    g = torch.Generator().manual_seed(4)
    tail = torch.randn(200_000, generator=g).abs() * torch.rand(200_000, generator=g).pow(4) * 5
    alone = compute_amax(_hist(tail), "entropy")
    with_zeros = compute_amax(_hist(torch.cat([tail, torch.zeros(200_000)])), "entropy")
    assert with_zeros == pytest.approx(alone, rel=0.05)
    assert compute_amax(_hist(torch.relu(torch.randn(200_000, generator=g))), "entropy") > 3.5


def test_mse_beats_max_on_its_own_objective():
    x = torch.cat([torch.randn(100_000, generator=torch.Generator().manual_seed(3)), torch.tensor([25.0])])
    h = _hist(x)

    def mse(amax):
        s = amax / 127
        return float(((x - (x / s).round().clamp(-128, 127) * s) ** 2).mean())

    assert mse(compute_amax(h, "mse")) < mse(compute_amax(h, "max"))


def test_zero_tensor_and_unknown_method():
    h = _hist(torch.zeros(100))
    assert compute_amax(h, "entropy") > 0  # floored, never a zero scale
    with pytest.raises(QuantizationError, match="unknown calibration method"):
        compute_amax(h, "kl")
    with pytest.raises(QuantizationError, match="no calibration data"):
        compute_amax(Histogram("never used"), "max")


def _tiny_qmodel():
    from edgeseg.models import build_model
    from edgeseg.quant.placement import prepare

    torch.manual_seed(0)
    return prepare(build_model("cgnet", num_classes=11, m=2, n=3))


def test_calibrate_sets_every_range_and_nan_names_the_layer():
    qmodel, _ = _tiny_qmodel()
    assert not is_calibrated(qmodel)
    batches = [
        torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(i)).numpy() for i in range(2)
    ]
    amax = calibrate(qmodel, batches, method="percentile", progress=False)
    assert is_calibrated(qmodel) and all(v > 0 for v in amax.values())
    with pytest.raises(QuantizationError, match="stored quantizer ranges do not fit"):
        load_amax(qmodel, {"nope": 1.0})

    qmodel2, _ = _tiny_qmodel()
    with torch.no_grad():
        qmodel2.get_submodule("stage2_down.reduce").weight[0, 0] = float("nan")
    with pytest.raises(QuantizationError, match=r"stage2_down\.f_glo\.fc\.0\.input_quantizer.*NaN/Inf"):
        collect_statistics(qmodel2, batches, progress=False)
    assert all(q.mode == "quant" for q in [m for m in qmodel2.modules() if hasattr(m, "observer")])


@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_positive_finite_ranges(method):
    x = torch.randn(50_000, generator=torch.Generator().manual_seed(4)) * 0.01
    amax = compute_amax(_hist(x), method)
    assert 0 < amax <= float(x.abs().max()) + 1e-12
