"""What keeps an INT8 row from its roofline: one paragraph per row beyond ``LIMIT`` times it.

The roofline prices a model's operations at the measured matmul peak (or its bytes at the measured
bandwidth, whichever is slower). Where a row was profiled (``time_split``, matrix setting ``profile``),
its time is read by kind of work against that: the dense convolutions' share of the operations and of
the roofline, and everything the roofline counts as (nearly) free: channel-wise convolutions, element-wise
and quantize work, resampling, layout reorders, concatenation and pooling, the time between kernel calls.
"""

from __future__ import annotations

from typing import Sequence

from edgeseg.report.entry import ReportEntry

#: Rows at more than this multiple of their roofline get a paragraph (the issue's target).
LIMIT = 1.5

TITLE = f"INT8 rows beyond {LIMIT}x their roofline: what keeps them away"

_NOT_PROFILED = {
    "torch": "PyTorch rows are not profiled by the bench",
    "tensorrt": "TensorRT rows are not profiled by the bench",
}


def _kernels_text(split: dict, *, scale: float, skip: str | None) -> str:
    kernels = {k: v * scale for k, v in (split.get("kernels_ms") or {}).items() if k != skip}
    parts = [f"{k} {v:.1f} ms" for k, v in sorted(kernels.items(), key=lambda kv: -kv[1])]
    between = scale * (split.get("between_kernels_ms") or 0.0)
    parts.append(f"between its {split.get('kernel_calls') or 0:.0f} kernel calls {between:.1f} ms")
    return ", ".join(parts)


def explain(e: ReportEntry) -> str | None:
    """The paragraph for ``e``, or None when it is not an ok INT8 row beyond ``LIMIT``x its roofline.
    The profile's times are read as shares of its own run and applied to the row's p50 (a profile taken
    in a slower or faster moment than the latency still says where the p50 went)."""
    x = e.roofline_own_x
    if not (e.ok and e.precision_base == "int8" and x and x > LIMIT and e.p50):
        return None
    roof = e.p50 / x
    bound = f", {e.roofline_own_bound}-bound" if e.roofline_own_bound else ""
    head = f"{e.label} ({e.id_label}): {x:.1f}x its int8 roofline ({roof:.1f} ms{bound})."
    split = e.time_split
    if not split:
        why = _NOT_PROFILED.get(e.backend, "the run did not profile it (matrix setting `profile`)")
        return f"{head} No profile: {why}."
    run = split.get("run_ms") or 0.0
    if run <= 0:
        return f"{head} Its profile recorded no run time."
    scale = e.p50 / run
    tool, runs = split.get("tool"), split.get("runs")
    out = (
        f"{head} Profiled ({tool}, {runs} runs at {run:.1f} ms; below, the profile's shares of the "
        f"{e.p50:.1f} ms p50):"
    )
    dense = (split.get("kernels_ms") or {}).get("dense convolution")
    conv = e.conv_gflops or {}
    if dense is None or not conv.get("dense") or not e.gflops or e.roofline_own_bound != "compute":
        return f"{out} {_kernels_text(split, scale=scale, skip=None)}."
    share = conv["dense"] / e.gflops
    dense *= scale
    rest = max(e.p50 - dense, 0.0)
    return (
        f"{out} the dense convolutions do {share:.0%} of the operations in {dense:.1f} ms, "
        f"{dense / (roof * share):.1f}x their share of the roofline; the other {rest:.1f} ms "
        f"({rest / e.p50:.0%}) is work the roofline counts as nearly free: "
        f"{_kernels_text(split, scale=scale, skip='dense convolution')}. With everything but the dense "
        f"convolutions gone the row would be {dense / roof:.1f}x the roofline."
    )


def gap_lines(entries: Sequence[ReportEntry]) -> list[str]:
    """One paragraph per INT8 row beyond ``LIMIT``x its roofline, in table order."""
    return [t for t in (explain(e) for e in entries) if t]
