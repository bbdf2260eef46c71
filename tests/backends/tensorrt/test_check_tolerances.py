"""The accuracy bounds (edgeseg.backends.tensorrt.check.tolerances): their values, Polygraphy's element-wise
rule, and why TF32 must be off for the FP32 bound (shown numerically, no TensorRT needed)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeseg.backends.tensorrt.check import tolerances as tol


def _tf32(x: np.ndarray) -> np.ndarray:
    """Round float32 values to TF32 (10-bit mantissa, round to nearest), as TF32 tensor cores do."""
    u = np.asarray(x, np.float32).view(np.uint32)
    return ((u + np.uint32(0x1000)) & np.uint32(0xFFFFE000)).view(np.float32)


def _logits(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 4, size=(1, 11, 8, 12)).astype(np.float32)


def test_the_bounds_are_the_cited_ones():
    assert (tol.FP32_ATOL, tol.FP32_RTOL) == (1e-5, 1e-5)  # Polygraphy CompareFunc.simple defaults
    assert (tol.FP16_ATOL, tol.FP16_RTOL) == (1e-3, 1e-3)  # Polygraphy --fp16 examples
    assert (tol.TF32_ATOL, tol.TF32_RTOL) == (tol.FP16_ATOL, tol.FP16_RTOL)
    assert tol.MIOU_DROP_MAX_POINTS == 1.0  # MMDeploy regression: mIoU +-1 point
    assert tol.engine_bounds("fp32") == (1e-5, 1e-5) and tol.engine_bounds("fp32", tf32=True) == (1e-3, 1e-3)
    assert tol.engine_bounds("fp16") == (1e-3, 1e-3)
    with pytest.raises(ValueError, match="INT8 is judged by mIoU"):
        tol.engine_bounds("int8")
    assert set(tol.SOURCES) == {"fp32", "fp16", "tf32", "miou"}


def test_an_exact_copy_passes_and_float32_noise_passes_the_fp32_bound():
    ref = _logits()
    assert tol.compare(ref, ref, atol=tol.FP32_ATOL, rtol=tol.FP32_RTOL).passed
    noisy = ref * (1 + np.float32(2**-22))  # a couple of float32 ulps
    c = tol.compare(noisy, ref, atol=tol.FP32_ATOL, rtol=tol.FP32_RTOL)
    assert c.passed and c.max_abs_diff > 0 and c.mismatches == 0


def test_fp16_rounding_fails_the_fp32_bound_and_passes_the_fp16_bound():
    ref = _logits()
    half = ref.astype(np.float16).astype(np.float32)
    c32 = tol.compare(half, ref, atol=tol.FP32_ATOL, rtol=tol.FP32_RTOL)
    c16 = tol.compare(half, ref, atol=tol.FP16_ATOL, rtol=tol.FP16_RTOL)
    assert not c32.passed and c32.mismatches > 0
    assert c16.passed, c16.summary()


def test_tf32_math_breaks_the_fp32_bound_which_is_why_builds_clear_it():
    """A 1x1 convolution (a matmul over 64 channels) with TF32-rounded inputs vs exact FP32 math: far
    outside the FP32 bound, and as large as with FP16-rounded inputs (same 10-bit mantissa), hence
    the FP16 bound for --tf32 engines."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4096, 64)).astype(np.float32)
    w = (rng.normal(size=(64, 11)) / 8).astype(np.float32)

    def mm(a, b):
        return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32)

    exact = mm(x, w)
    c_tf32 = tol.compare(mm(_tf32(x), _tf32(w)), exact, atol=tol.FP32_ATOL, rtol=tol.FP32_RTOL)
    c_half = tol.compare(
        mm(x.astype(np.float16), w.astype(np.float16)), exact, atol=tol.FP32_ATOL, rtol=tol.FP32_RTOL
    )
    assert not c_tf32.passed and c_tf32.max_abs_diff > 10 * tol.FP32_ATOL
    assert c_tf32.mismatches > c_tf32.elements // 2
    assert 0.5 < c_tf32.max_abs_diff / c_half.max_abs_diff < 2.0
    assert tol.engine_bounds("fp32", tf32=True) == tol.engine_bounds("fp16")


def test_elementwise_rule_is_abs_or_rel_and_nan_always_fails():
    ref = np.array([1000.0, 1e-7, 0.0, 1.0], np.float32)
    # 1000 + 0.005: abs 5e-3 > 1e-3 but rel 5e-6 <= 1e-3 -> ok; 1e-7 -> 2e-7: rel 1 but abs 1e-7 -> ok
    ok = np.array([1000.005, 2e-7, 5e-4, 1.0], np.float32)
    assert tol.compare(ok, ref, atol=1e-3, rtol=1e-3).passed
    bad = ok.copy()
    bad[3] = 1.01  # abs 1e-2 and rel 1e-2
    c = tol.compare(bad, ref, atol=1e-3, rtol=1e-3)
    assert not c.passed and c.mismatches == 1
    for poison in (np.nan, np.inf):
        p = ok.copy()
        p[0] = poison
        c = tol.compare(p, ref, atol=1e6, rtol=1e6)  # no tolerance excuses NaN/Inf
        assert not c.passed and c.nonfinite == 1
    with pytest.raises(ValueError, match="shape"):
        tol.compare(ok[:3], ref, atol=1, rtol=1)


def test_miou_check_is_one_sided_and_in_points():
    assert tol.miou_check(0.60, 0.591)["passed"]  # 0.9 point lower
    r = tol.miou_check(0.60, 0.585)
    assert not r["passed"] and r["drop_points"] == pytest.approx(1.5)
    assert tol.miou_check(0.60, 0.65)["passed"]  # better is not a failure
    assert not tol.miou_check(0.60, float("nan"))["passed"]
