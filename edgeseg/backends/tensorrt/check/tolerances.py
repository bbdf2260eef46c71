"""The accuracy bounds a TensorRT engine is held to, and where each comes from. One place: the
real-TensorRT tests (tests/backends/tensorrt/test_build_real.py) and ``edgeseg trt-check``'s report
both read them from here.

Outputs (logits) of FP32 and FP16 engines against the ONNX Runtime FP32 reference, per element,
exactly as Polygraphy's ``CompareFunc.simple`` checks them (``check_error_stat="elemwise"``): an
element fails when ``|a - r| > atol`` AND ``|a - r| / |r| > rtol`` (a zero ``r`` gets 2.22e-16
added), and a NaN difference always fails.

- ``FP32_ATOL``, ``FP32_RTOL`` = 1e-5: Polygraphy's defaults (``default_atol = default_rtol = 1e-5``
  in polygraphy/comparator/compare.py, NVIDIA/TensorRT tools/Polygraphy). They assume TF32 is off,
  which is Polygraphy's own build default (``CreateConfig(tf32=False)`` clears BuilderFlag.TF32)
  and edgeseg's (``edgeseg build`` clears it unless ``--tf32``).
- ``FP16_ATOL``, ``FP16_RTOL`` = 1e-3: what NVIDIA's Polygraphy examples pass for ``--fp16``
  (``polygraphy run model.onnx --onnxrt --trt --fp16 --atol 1e-3 --rtol 1e-3``, NVIDIA's
  trt-samples-for-hackathon-cn cookbook, 07-Tool/Polygraphy-CLI).
- ``TF32_ATOL``, ``TF32_RTOL`` = the FP16 bound: an FP32 engine built with ``--tf32`` rounds the
  inputs of its inner products to a 10-bit mantissa (BuilderFlag.TF32's own description), FP16's
  mantissa, while accumulating in FP32; so it is held to the FP16 bound, not to 1e-5.

Segmentation quality of reduced-precision engines (FP16 and INT8) on labelled data:

- ``MIOU_DROP_MAX_POINTS`` = 1.0: MMDeploy's regression tests accept a backend's mIoU within
  ±1 point of the reference (tests/regression/mmseg.yml: ``mIoU: tolerance: 1  # metric ±n%``).
  edgeseg applies it one-sided: the engine's mIoU may be at most 1 point (0.01 as a fraction)
  below ONNX Runtime FP32's on the same frames; being better is not a failure. INT8 engines are
  only judged this way, on labelled data, never assumed: an element-wise bound does not apply to
  INT8 (its error is quantization, not rounding).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgeseg.export.compare import ENGINE_TOLERANCES, tolerance_for

FP32_ATOL, FP32_RTOL = ENGINE_TOLERANCES["fp32"].atol, ENGINE_TOLERANCES["fp32"].rtol
FP16_ATOL, FP16_RTOL = ENGINE_TOLERANCES["fp16"].atol, ENGINE_TOLERANCES["fp16"].rtol
TF32_ATOL, TF32_RTOL = ENGINE_TOLERANCES["tf32"].atol, ENGINE_TOLERANCES["tf32"].rtol
MIOU_DROP_MAX_POINTS = 1.0

SOURCES = {
    **{k: t.why for k, t in ENGINE_TOLERANCES.items()},
    "miou": "MMDeploy regression tests: mIoU within 1 point of the reference (one-sided here)",
}


def engine_bounds(precision: str, *, tf32: bool = False) -> tuple[float, float]:
    """(atol, rtol) for an engine of ``precision`` ("fp32" or "fp16"); ``tf32``: built with --tf32.
    From the one table (``edgeseg.export.compare.tolerance_for(..., engine=True)``); INT8 has no
    element-wise bound (ValueError): judge it by mIoU (``miou_check``)."""
    t = tolerance_for(precision, engine=True, tf32=tf32)
    return float(t.atol), t.rtol


@dataclass(frozen=True)
class EngineFigures:
    """What the trt-check report shows of one comparison (``edgeseg.export.compare.Comparison``, the one
    comparator's record, under Polygraphy's words: ``mismatches`` = elements out of tolerance)."""

    passed: bool
    atol: float
    rtol: float
    max_abs_diff: float
    max_rel_diff: float
    mean_abs_diff: float
    mismatches: int
    elements: int
    nonfinite: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"{'PASS' if self.passed else 'FAIL'}: max |diff| {self.max_abs_diff:.3g}, max rel "
            f"{self.max_rel_diff:.3g}; "
            f"{self.mismatches}/{self.elements} elements beyond atol={self.atol:g} and rtol={self.rtol:g}"
            + (f"; {self.nonfinite} NaN/Inf" if self.nonfinite else "")
        )


def compare(actual: np.ndarray, reference: np.ndarray, *, atol: float, rtol: float) -> EngineFigures:
    """Compare ``actual`` with ``reference`` element-wise through the one comparator
    (``edgeseg.export.compare`` with its "elemwise" rule); shapes must be equal (ValueError otherwise)."""
    from edgeseg.export.compare import Tolerance
    from edgeseg.export.compare import compare as compare_outputs

    a, r = np.asarray(actual), np.asarray(reference)
    if a.shape != r.shape:
        raise ValueError(f"cannot compare outputs of shape {a.shape} with reference shape {r.shape}")
    t = Tolerance("tensorrt", float(atol), float(rtol), None, "Polygraphy elemwise", rule="elemwise")
    c = compare_outputs(r, a, tolerance=t)
    return EngineFigures(
        passed=c.passed and a.size > 0,
        atol=float(atol),
        rtol=float(rtol),
        max_abs_diff=c.max_abs_diff,
        max_rel_diff=c.max_rel_diff,
        mean_abs_diff=c.mean_abs_diff,
        mismatches=c.elements_out_of_tolerance,
        elements=c.elements,
        nonfinite=c.nonfinite,
    )


def miou_check(
    reference_miou: float, miou: float, *, bound_points: float = MIOU_DROP_MAX_POINTS
) -> dict[str, Any]:
    """Whether ``miou`` (a fraction, 0..1) is at most ``bound_points`` points below ``reference_miou``.
    A NaN mIoU fails."""
    drop = (float(reference_miou) - float(miou)) * 100.0
    ok = bool(np.isfinite(drop) and drop <= bound_points)
    return {
        "reference_miou": float(reference_miou),
        "miou": float(miou),
        "drop_points": drop,
        "bound_points": float(bound_points),
        "passed": ok,
    }
