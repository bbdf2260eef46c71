"""The one comparator (as Polygraphy's ``CompareFunc``): candidate outputs against reference outputs
under a named tolerance. Every stage that checks one artifact against another uses it: the export's
parity check, graph rewrites, and the comparison each build runs against its source.

The rule, for a tolerance ``t``: the candidate must be finite; where ``t.atol`` is set, every value within
``atol + rtol * |reference|`` (``t.rule`` "sum", the default), or, with ``t.rule`` "elemwise", Polygraphy's
``CompareFunc.simple`` check: a value fails only when ``|a - r| > atol`` AND ``|a - r| / |r| > rtol`` (a
zero ``r`` gets 2.22e-16 added; NaN fails); where ``t.agree_min`` is set (logits, NCHW), the per-pixel
argmax must agree on at least ``agree_min`` of the *decisive* pixels: those whose two best reference logits
are further apart than twice the allowed error, so any accepted numeric difference cannot swap them
(near-ties are counted apart; an untrained model has many). The allowed error is ``atol + rtol * |top
logit|``, or (``atol`` None) the median absolute difference actually seen, for comparisons whose candidate
is expected to differ (real int8 kernels against a float simulation).

Label maps (integer arrays, N x 1 x H x W, from a labels head: ``edgeseg.export.head``) are compared
by the share of equal pixels, which must reach ``agree_min`` (a tolerance without one: every pixel);
there are no logits to find near-ties in, so every pixel counts (``rule`` "labels").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

#: Polygraphy adds this to zero reference values before dividing (relative difference).
_EPS = 2.220446049250313e-16


@dataclass(frozen=True)
class Tolerance:
    """A named comparison rule. ``atol`` None: values are not compared one by one; ``agree_min``
    None: the argmax is not compared (any tensor, not only logits); ``rule``: "sum" (default) or
    "elemwise" (Polygraphy's, see the module doc)."""

    name: str
    atol: float | None
    rtol: float
    agree_min: float | None
    why: str
    rule: str = "sum"


#: The named tolerances every stage picks from (docs/export.md says where each number comes from).
TOLERANCES: dict[str, Tolerance] = {
    "export": Tolerance(
        "export",
        1e-3,
        1e-3,
        0.999,
        "the ONNX (or an FP32 build) against its float source: float32 kernels differ by ~1e-5",
    ),
    "rewrite": Tolerance(
        "rewrite",
        1e-4,
        1e-4,
        None,
        "a graph rewrite computes the same function; only summation order may change",
    ),
    "fp16": Tolerance(
        "fp16", None, 0.0, 0.98, "an FP16 build against its FP32 source: argmax on decisive pixels"
    ),
    "int8": Tolerance(
        "int8",
        None,
        0.0,
        0.97,
        "int8 kernels against a float run of the same Q/DQ graph (or an FP32 source): argmax on "
        "decisive pixels",
    ),
}


#: Real engines (``edgeseg trt-check``) against ONNX Runtime FP32, element by element as Polygraphy's
#: ``CompareFunc.simple`` (docs: ``edgeseg.backends.tensorrt.check.tolerances``).
ENGINE_TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(
        "engine-fp32",
        1e-5,
        1e-5,
        None,
        "Polygraphy CompareFunc.simple defaults (atol = rtol = 1e-5, elemwise, NaN fails)",
        rule="elemwise",
    ),
    "fp16": Tolerance(
        "engine-fp16",
        1e-3,
        1e-3,
        None,
        "Polygraphy FP16 examples (--fp16 --atol 1e-3 --rtol 1e-3), elemwise, NaN fails",
        rule="elemwise",
    ),
    "tf32": Tolerance(
        "engine-tf32",
        1e-3,
        1e-3,
        None,
        "FP16 bound: TF32 rounds inner-product inputs to FP16's 10-bit mantissa",
        rule="elemwise",
    ),
}


def tolerance_for(precision: str, *, engine: bool = False, tf32: bool = False) -> Tolerance:
    """The one place a precision's tolerance is looked up. A build of ``precision`` against its source
    ("export" for fp32); ``engine`` (default False): a real engine's element-wise bound against ONNX
    Runtime FP32 (fp32, or tf32 when ``tf32``; fp16), ValueError for any other (INT8 is judged by mIoU)."""
    if not engine:
        return TOLERANCES["export" if precision == "fp32" else precision]
    key = "tf32" if precision == "fp32" and tf32 else precision
    if key not in ENGINE_TOLERANCES:
        raise ValueError(
            f"no element-wise tolerance for precision {precision!r} "
            "(expected fp32 or fp16; INT8 is judged by mIoU)"
        )
    return ENGINE_TOLERANCES[key]


@dataclass(frozen=True)
class Comparison:
    """Numbers from one comparison. ``argmax_agreement`` is over decisive pixels (see module doc)."""

    max_abs_diff: float
    mean_abs_diff: float
    argmax_agreement: float
    passed: bool
    tolerance: str = "export"
    frames: int = 0
    pixels: int = 0
    near_ties: int = 0
    elements_out_of_tolerance: int = 0
    finite: bool = True
    atol: float | None = None
    rtol: float = 0.0
    agree_min: float | None = None
    rule: str = "sum"
    problem: str = ""  # a structural failure (output shape), empty when the numbers were compared
    max_rel_diff: float = 0.0
    elements: int = 0
    nonfinite: int = 0

    def summary(self) -> str:
        """'max|diff|=3.1e-06, argmax agree=100.00%' plus the reason when it failed."""
        if self.rule == "labels":  # label maps: only the share of equal pixels means anything
            s = f"labels agree={100 * self.argmax_agreement:.2f}%"
        else:
            s = f"max|diff|={self.max_abs_diff:.2e}"
        if self.agree_min is not None and self.rule != "labels":
            s += f", argmax agree={100 * self.argmax_agreement:.2f}%"
        if self.near_ties:
            s += f" ({self.near_ties} near-tie pixels of {self.pixels} not counted"
            s += (
                "; most pixels are near-ties: is the model trained?)"
                if 2 * self.near_ties > self.pixels
                else ")"
            )
        if not self.passed:
            s += " -- FAILED: " + "; ".join(self.reasons())
        return s

    def reasons(self) -> list[str]:
        out = [self.problem] if self.problem else []
        if not self.finite:
            out.append("the output has NaN/Inf")
        if self.elements_out_of_tolerance:
            how = (
                "atol {a:g} and rtol {r:g}"
                if self.rule == "elemwise"
                else "atol {a:g} + rtol {r:g} x |reference|"
            )
            out.append(
                f"{self.elements_out_of_tolerance} logits differ by more than "
                + how.format(a=self.atol, r=self.rtol)
            )
        if self.agree_min is not None and self.argmax_agreement < self.agree_min:
            what = "label" if self.rule == "labels" else "argmax"
            out.append(
                f"{what} agreement {100 * self.argmax_agreement:.2f}% is below {100 * self.agree_min:.2f}%"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary()}


def compare(
    ref: np.ndarray,
    out: np.ndarray,
    *,
    tolerance: Tolerance | str = "export",
    atol: float | None = None,
    rtol: float | None = None,
    agree_min: float | None = None,
) -> Comparison:
    """Compare ``out`` against the reference ``ref`` (same shape) under ``tolerance`` (a name in
    ``TOLERANCES`` or a ``Tolerance``; default "export"); ``atol``/``rtol``/``agree_min`` override its
    numbers."""
    t = TOLERANCES[tolerance] if isinstance(tolerance, str) else tolerance
    t = replace(
        t,
        atol=t.atol if atol is None else atol,
        rtol=t.rtol if rtol is None else rtol,
        agree_min=t.agree_min if agree_min is None else agree_min,
    )
    labels = _is_labels(ref) or _is_labels(out)
    if labels:
        t = replace(
            t, atol=None, rtol=0.0, agree_min=1.0 if t.agree_min is None else t.agree_min, rule="labels"
        )
    base = dict(
        tolerance=t.name,
        atol=t.atol,
        rtol=t.rtol,
        agree_min=t.agree_min,
        rule=t.rule,
        frames=int(ref.shape[0]) if ref.ndim else 0,
    )
    if ref.shape != out.shape:
        return Comparison(
            max_abs_diff=float("inf"),
            mean_abs_diff=float("inf"),
            argmax_agreement=0.0,
            passed=False,
            problem=f"the output shape {tuple(out.shape)} differs from the reference shape "
            f"{tuple(ref.shape)}",
            **base,
        )
    if labels:
        return _compare_labels(ref, out, base)
    ref = ref.astype(np.float64)
    out = out.astype(np.float64)
    finite = bool(np.isfinite(out).all())
    diff = np.abs(np.nan_to_num(out - ref, nan=np.inf))
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = diff / np.abs(np.where(ref == 0, ref + _EPS, ref))
    if t.atol is None:
        bad = 0
    elif t.rule == "elemwise":
        bad = int(((diff > t.atol) & (rel > t.rtol)).sum())
    else:
        bad = int((diff > t.atol + t.rtol * np.abs(ref)).sum())
    agreement, pixels, near = 1.0, 0, 0
    if t.agree_min is not None:
        agreement, pixels, near = _argmax_agreement(ref, out, diff, t)
    passed = finite and bad == 0 and (t.agree_min is None or agreement >= t.agree_min)
    return Comparison(
        max_abs_diff=float(diff.max()) if diff.size else 0.0,
        mean_abs_diff=float(diff[np.isfinite(diff)].mean()) if diff.size and np.isfinite(diff).any() else 0.0,
        argmax_agreement=agreement,
        passed=bool(passed),
        pixels=pixels,
        near_ties=near,
        elements_out_of_tolerance=bad,
        finite=finite,
        max_rel_diff=float(rel.max()) if rel.size else 0.0,
        elements=int(out.size),
        nonfinite=int((~np.isfinite(out)).sum()),
        **base,
    )


def _is_labels(a: np.ndarray) -> bool:
    """An integer N x 1 x H x W array: a label map from a labels head."""
    return a.dtype.kind in "iub" and a.ndim == 4 and a.shape[1] == 1


def _compare_labels(ref: np.ndarray, out: np.ndarray, base: dict[str, Any]) -> Comparison:
    """Label maps: ``argmax_agreement`` is the share of equal pixels (all counted), ``max_abs_diff`` 1 where
    any pixel differs, else 0; ``elements_out_of_tolerance`` stays 0 (the agreement decides)."""
    equal = ref.astype(np.int64) == out.astype(np.int64)
    agreement = float(equal.mean()) if equal.size else 1.0
    wrong = float((~equal).mean()) if equal.size else 0.0
    return Comparison(
        max_abs_diff=float(not equal.all()),
        mean_abs_diff=wrong,
        argmax_agreement=agreement,
        passed=agreement >= base["agree_min"],
        pixels=int(equal.size),
        elements=int(out.size),
        **base,
    )


def _argmax_agreement(
    ref: np.ndarray, out: np.ndarray, diff: np.ndarray, t: Tolerance
) -> tuple[float, int, int]:
    """(agreement over decisive pixels, pixels, near-ties) for NCHW logits."""
    if ref.shape[1] > 1:
        top2 = np.sort(ref, axis=1)[:, -2:]
        allowed = (
            t.atol + t.rtol * np.abs(top2[:, 1])
            if t.atol is not None
            else float(np.median(diff[np.isfinite(diff)]) if np.isfinite(diff).any() else 0.0)
        )
        decisive = (top2[:, 1] - top2[:, 0]) > 2 * allowed
    else:
        decisive = np.ones((ref.shape[0], *ref.shape[2:]), bool)
    agree = ref.argmax(1) == np.nan_to_num(out, nan=-np.inf).argmax(1)
    n_dec = int(decisive.sum())
    return (float(agree[decisive].mean()) if n_dec else 1.0), int(agree.size), int(agree.size - n_dec)
