"""The one comparator (``edgeseg.export.compare.compare``) and its named tolerances, and check_parity:
the pass rule (finite, per-value tolerance, argmax agreement on decisive pixels)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeseg.export.compare import TOLERANCES, compare
from edgeseg.export.parity import check_parity


def _logits(seed=0, n=2, c=5, h=6, w=7):
    return np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(np.float32) * 5


def test_identical_logits_pass():
    ref = _logits()
    r = compare(ref, ref.copy())
    assert r.passed and r.max_abs_diff == 0 and r.argmax_agreement == 1.0 and r.frames == 2 and r.pixels == 84


def test_small_noise_within_tolerance_passes_and_large_fails():
    ref = _logits()
    noise = np.random.default_rng(1).standard_normal(ref.shape).astype(np.float32)
    assert compare(ref, ref + 1e-5 * noise).passed
    bad = compare(ref, ref + 1e-2 * noise)
    assert not bad.passed and bad.elements_out_of_tolerance > 0 and "atol" in bad.summary()


def test_nan_output_always_fails():
    ref = _logits()
    out = ref.copy()
    out[0, 0, 0, 0] = np.nan
    r = compare(ref, out, atol=1e9, agree_min=0.0)
    assert not r.passed and not r.finite and "NaN" in r.summary()


def test_near_ties_are_not_counted_against_agreement():
    ref = np.zeros((1, 3, 1, 4), np.float32)
    ref[0, :, 0, 0] = [1.0, 1.0 + 1e-4, -1]  # tie within tolerance: may flip
    ref[0, :, 0, 1:] = [[5.0, 5.0, 5.0], [0.0, 0.0, 0.0], [-5.0, -5.0, -5.0]]  # decisive: class 0
    out = ref.copy()
    out[0, 0, 0, 0] += 2e-4  # flips the tie's argmax, still within atol
    r = compare(ref, out)
    assert r.passed and r.near_ties == 1 and r.argmax_agreement == 1.0
    out[0, 1, 0, 1] = 6.0  # a decisive pixel flips (and exceeds atol)
    r = compare(ref, out)
    assert not r.passed and r.argmax_agreement == pytest.approx(2 / 3)
    assert any("argmax agreement" in x for x in r.reasons())


def test_check_parity_on_a_real_export(tmp_path, arts):
    from edgeseg.backends import open_runner
    from edgeseg.export.onnx import export_onnx

    model, card = arts.tiny_model(), arts.tiny_card()
    path = export_onnx(model, card, tmp_path / "m.onnx")
    was_training = model.training
    frames = arts.frames(2, (70, 100))  # resized to the ONNX's 64x96
    r = check_parity(path, model, frames, card, open_onnx=open_runner)
    assert r.passed and r.max_abs_diff < 1e-3 and r.pixels == 2 * 64 * 96
    assert model.training == was_training


def test_untrained_model_ties_are_reported_not_failed():
    ref = np.full((1, 4, 3, 3), 1e-5, np.float32)  # a fresh model: all logits ~equal
    out = ref + 1e-6 * np.random.default_rng(0).standard_normal(ref.shape).astype(np.float32)
    r = compare(ref, out)
    assert r.passed and r.near_ties == 9 and "is the model trained?" in r.summary()


def test_shape_mismatch_is_a_failed_result_with_the_reason():
    r = compare(_logits(h=6), _logits(h=4))
    assert not r.passed and "output shape" in r.summary()


def test_rewrite_tolerance_compares_values_only():
    ref = _logits()
    r = compare(ref, ref + 5e-5, tolerance="rewrite")
    assert r.passed and r.agree_min is None and "argmax" not in r.summary()
    bad = compare(ref, ref + 1e-2, tolerance="rewrite")
    assert not bad.passed and bad.elements_out_of_tolerance == ref.size


def test_int8_tolerance_is_argmax_on_pixels_decisive_against_the_median_error():
    ref = _logits(seed=3, n=1, c=4, h=20, w=20)
    noisy = ref + 0.3 * np.random.default_rng(4).standard_normal(
        ref.shape
    )  # int8-sized errors: far beyond atol
    assert not compare(ref, noisy).passed
    r = compare(ref, noisy, tolerance="int8")
    assert r.passed and r.elements_out_of_tolerance == 0 and r.agree_min == TOLERANCES["int8"].agree_min
    swapped = ref.copy()
    swapped[:, [0, 1]] = swapped[:, [1, 0]]  # every pixel's class changes
    assert not compare(ref, swapped, tolerance="int8").passed


def test_every_tolerance_is_named_and_overridable():
    for name, t in TOLERANCES.items():
        assert t.name == name and t.why
    r = compare(_logits(), _logits(), tolerance="export", agree_min=0.5)
    assert r.agree_min == 0.5 and r.tolerance == "export"


def test_elemwise_rule_is_polygraphys_both_bounds():
    """Rule "elemwise" (Polygraphy CompareFunc.simple): a value fails only beyond BOTH atol and rtol;
    the default "sum" rule fails it beyond atol + rtol * |ref|."""
    import numpy as np

    from edgeseg.export.compare import Tolerance, compare

    ref = np.array([[1000.0, 1e-9]])
    out = np.array([[1000.5, 2e-9]])  # abs 0.5 > atol but rel 5e-4 < rtol; rel 1.0 > rtol but abs 1e-9 < atol
    poly = Tolerance("p", 1e-3, 1e-3, None, "test", rule="elemwise")
    assert compare(ref, out, tolerance=poly).passed
    assert not compare(ref, out, tolerance=Tolerance("s", 1e-3, 1e-4, None, "test")).passed
    assert compare(ref, np.array([[np.nan, 2e-9]]), tolerance=poly).passed is False


def test_label_maps_are_compared_by_the_share_of_equal_pixels():
    """Integer N x 1 x H x W arrays (a labels head) are label maps: agreement = equal pixels, all counted."""
    ref = np.random.default_rng(0).integers(0, 11, (2, 1, 20, 50)).astype(np.uint8)  # 2000 pixels
    out = ref.copy()
    out[0, 0, 0, :2] = (out[0, 0, 0, :2] + 1) % 11  # 2 of 2000 differ: 99.90 %
    r = compare(ref, out)
    assert r.rule == "labels" and r.pixels == 2000 and r.near_ties == 0 and r.argmax_agreement == 0.999
    assert r.passed and r.summary() == "labels agree=99.90%"
    out[0, 0, 1, 0] = (out[0, 0, 1, 0] + 1) % 11  # 3 differ: below the export tolerance's 99.9 %
    r = compare(ref, out)
    assert (
        not r.passed
        and r.summary() == "labels agree=99.85% -- FAILED: label agreement 99.85% is below 99.90%"
    )
    assert compare(ref, out, tolerance="int8").passed  # 97 %
    assert not compare(ref, out, tolerance="rewrite").passed  # no agree_min: every pixel must agree
    assert compare(ref, ref.copy(), tolerance="rewrite").passed
    assert not compare(ref, ref[:, :, :10]).passed  # shapes differ


def test_one_tolerance_lookup_for_builds_and_real_engines():
    from edgeseg.backends.tensorrt.check import tolerances as trt
    from edgeseg.export.compare import tolerance_for

    assert tolerance_for("fp32").name == "export" and tolerance_for("int8").name == "int8"
    e32, e16 = tolerance_for("fp32", engine=True), tolerance_for("fp16", engine=True)
    assert (e32.atol, e32.rtol, e32.rule) == (1e-5, 1e-5, "elemwise") and (e16.atol, e16.rtol) == (1e-3, 1e-3)
    assert tolerance_for("fp32", engine=True, tf32=True).atol == e16.atol
    assert trt.engine_bounds("fp32") == (e32.atol, e32.rtol) and trt.SOURCES["fp16"] == e16.why
    with pytest.raises(ValueError, match="INT8 is judged by mIoU"):
        tolerance_for("int8", engine=True)
