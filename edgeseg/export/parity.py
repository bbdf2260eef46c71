"""Parity check: the exported ONNX (through ONNX Runtime) against the eager PyTorch model on real frames.

Passes when the ONNX output is finite, every logit is within ``atol + rtol * |torch logit|``
(defaults 1e-3 and 1e-3) and the per-pixel argmax agrees on at least ``agree_min`` (default 99.9%)
of the *decisive* pixels: pixels whose two best torch logits are closer than the allowed error
could swap under any accepted numeric difference, so they are counted apart as near-ties (an
untrained model has many). Why these numbers: see docs/export.md.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from edgeseg.card import ModelCard

DEFAULT_ATOL = 1e-3
DEFAULT_RTOL = 1e-3
DEFAULT_AGREE_MIN = 0.999


@dataclass(frozen=True)
class ParityResult:
    """Numbers from one parity check. ``argmax_agreement`` is over decisive pixels (see module doc)."""

    max_abs_diff: float
    mean_abs_diff: float
    argmax_agreement: float
    passed: bool
    frames: int = 0
    pixels: int = 0
    near_ties: int = 0
    elements_out_of_tolerance: int = 0
    finite: bool = True
    atol: float = DEFAULT_ATOL
    rtol: float = DEFAULT_RTOL
    agree_min: float = DEFAULT_AGREE_MIN
    problem: str = ""  # a structural failure (output shape), empty when the numbers were compared

    def summary(self) -> str:
        """'max|diff|=3.1e-06, argmax agree=100.00%' plus the reason when it failed."""
        s = f"max|diff|={self.max_abs_diff:.2e}, argmax agree={100 * self.argmax_agreement:.2f}%"
        if self.near_ties:
            s += f" ({self.near_ties} near-tie pixels of {self.pixels} not counted"
            s += "; most pixels are near-ties: is the model trained?)" if 2 * self.near_ties > self.pixels else ")"
        if not self.passed:
            s += " -- FAILED: " + "; ".join(self.reasons())
        return s

    def reasons(self) -> list[str]:
        out = [self.problem] if self.problem else []
        if not self.finite:
            out.append("the ONNX output has NaN/Inf")
        if self.elements_out_of_tolerance:
            out.append(
                f"{self.elements_out_of_tolerance} logits differ by more than atol {self.atol:g} + rtol {self.rtol:g} x |logit|"
            )
        if self.argmax_agreement < self.agree_min:
            out.append(f"argmax agreement {100 * self.argmax_agreement:.2f}% is below {100 * self.agree_min:.2f}%")
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_logits(
    ref: np.ndarray,
    out: np.ndarray,
    *,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    agree_min: float = DEFAULT_AGREE_MIN,
) -> ParityResult:
    """Compare NCHW logits ``out`` against the reference ``ref`` (same shape)."""
    if ref.shape != out.shape:
        return ParityResult(
            max_abs_diff=float("inf"), mean_abs_diff=float("inf"), argmax_agreement=0.0, passed=False,
            frames=int(ref.shape[0]), atol=atol, rtol=rtol, agree_min=agree_min,
            problem=f"the ONNX output shape {tuple(out.shape)} differs from the PyTorch output shape {tuple(ref.shape)}",
        )
    ref = ref.astype(np.float64)
    out = out.astype(np.float64)
    finite = bool(np.isfinite(out).all())
    diff = np.abs(np.nan_to_num(out - ref, nan=np.inf))
    bad = int((diff > atol + rtol * np.abs(ref)).sum())
    # near-ties: the top-2 reference logits closer than twice the allowed per-logit error
    if ref.shape[1] > 1:
        top2 = np.sort(ref, axis=1)[:, -2:]
        decisive = (top2[:, 1] - top2[:, 0]) > 2 * (atol + rtol * np.abs(top2[:, 1]))
    else:
        decisive = np.ones((ref.shape[0], *ref.shape[2:]), bool)
    agree = ref.argmax(1) == np.nan_to_num(out, nan=-np.inf).argmax(1)
    n_dec = int(decisive.sum())
    agreement = float(agree[decisive].mean()) if n_dec else 1.0
    passed = finite and bad == 0 and agreement >= agree_min
    return ParityResult(
        max_abs_diff=float(diff.max()) if diff.size else 0.0,
        mean_abs_diff=float(diff[np.isfinite(diff)].mean()) if diff.size else 0.0,
        argmax_agreement=agreement,
        passed=bool(passed),
        frames=int(ref.shape[0]),
        pixels=int(agree.size),
        near_ties=int(agree.size - n_dec),
        elements_out_of_tolerance=bad,
        finite=finite,
        atol=atol,
        rtol=rtol,
        agree_min=agree_min,
    )


def check_parity(
    onnx_path: str | os.PathLike,
    model: Any,
    frames_bgr: Sequence[np.ndarray],
    card: ModelCard,
    *,
    atol: float = DEFAULT_ATOL,
    rtol: float = DEFAULT_RTOL,
    agree_min: float = DEFAULT_AGREE_MIN,
    size: tuple[int, int] | None = None,
) -> ParityResult:
    """Run ``frames_bgr`` through the ONNX file (OrtRunner, CPU) and the eager ``model`` (fp32,
    NCHW, CPU) after the same card-driven preprocessing, and compare the logits.

    Frames are resized to the ONNX's static input size, else to ``size``, else to ``card.input_size``.
    ``model`` is not modified (the reference runs on a CPU fp32 copy of it).
    """
    from edgeseg.data.preprocess import preprocess
    from edgeseg.backends.onnxruntime.runner import OrtRunner
    from edgeseg.backends.torch.runner import TorchRunner

    with OrtRunner(onnx_path) as ort_runner:
        hw = ort_runner.input_size or size or card.input_size
        batch = preprocess(list(frames_bgr), card, size=hw)
        out = ort_runner.infer(batch)
    with TorchRunner.from_model(model, card, channels_last=False, copy=True) as ref_runner:
        ref = ref_runner.infer(batch)
    return compare_logits(ref, out, atol=atol, rtol=rtol, agree_min=agree_min)
