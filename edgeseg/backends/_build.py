"""What every build shares: ``BuildResult`` (one success line), the timed build driver ``timed_build``,
and the comparison against the source every build runs (``compare_with_source``).
A backend's build function is decorated with ``@timed_build("name")``; the driver times the call
and sizes the artifact from its spec's ``artifact_files``; ``summary()`` reports the comparison."""

from __future__ import annotations

import contextvars
import functools
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgeseg._io import human_size
from edgeseg.card import BUILD_SECONDS_KEYS, ModelCard


#: Synthetic street scenes every build runs through its artifact and its source.
PROBE_FRAMES = 2


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote. ``path_name`` says which path was taken (e.g. "TensorRT 10.3: FP16 via
    builder flag"); ``comparison``: the source-vs-artifact comparison (``Comparison.to_dict()`` plus
    ``enforced``), or ``{"skipped": why}``. A build function fills the first six fields; the driver
    (``timed_build``) sets ``backend``, ``seconds`` and ``size_bytes``."""

    path: Path
    precision: str
    path_name: str
    card: ModelCard
    comparison: dict[str, Any] | None = None
    notes: tuple[str, ...] = field(default=())
    backend: str = ""
    seconds: float = 0.0
    size_bytes: int = 0

    def summary(self) -> str:
        """The one success line printed per build (time, file, size, the comparison against the source)."""
        line = (
            f"built {self.backend} {self.precision} ({self.path_name}) in "
            f"{self.seconds:.{2 if self.seconds < 10 else 1}f} s: "
            f"{self.path} ({human_size(self.size_bytes)})"
        )
        c = self.comparison
        if c and "summary" in c:
            line += (
                "; vs source"
                + (f" on {c['probe']}" if c.get("probe") else "")
                + f": {c['summary']}"
                + ("" if c.get("enforced", True) else " (reported, not enforced)")
            )
        elif c:
            line += f"; not compared with the source: {c['skipped']}"
        return line


#: When the running ``timed_build`` call started (perf_counter), None outside a build.
_STARTED: contextvars.ContextVar[float | None] = contextvars.ContextVar("edgeseg_build_started", default=None)


def build_time() -> dict[str, float]:
    """``{"build_seconds": s}`` for ``card.extra``: seconds since the running ``timed_build`` started
    (the one clock and the one spelling every builder stamps; ``{}`` outside a timed build)."""
    t0 = _STARTED.get()
    return {} if t0 is None else {BUILD_SECONDS_KEYS[0]: round(time.perf_counter() - t0, 3)}


def timed_build(backend: str) -> Callable[[Callable[..., BuildResult]], Callable[..., BuildResult]]:
    """Decorator: the one timed build driver. Times the build function (its clock is the one
    ``build_time()`` stamps into the card) and sizes what it wrote (from the spec's ``artifact_files``)
    into the ``BuildResult`` it returns."""

    def wrap(fn: Callable[..., BuildResult]) -> Callable[..., BuildResult]:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> BuildResult:
            from edgeseg.backends import BACKENDS

            t0 = time.perf_counter()
            token = _STARTED.set(t0)
            try:
                result = fn(*args, **kwargs)
            finally:
                _STARTED.reset(token)
            seconds = time.perf_counter() - t0
            return replace(
                result,
                backend=backend,
                seconds=seconds,
                size_bytes=BACKENDS[backend].artifact_size(result.path),
            )

        return run

    return wrap


def probe_frames(size: tuple[int, int], n: int = PROBE_FRAMES) -> list[np.ndarray]:
    """``n`` synthetic street scenes (BGR) at ``size`` (H, W): a deterministic, dataset-free probe."""
    from edgeseg.data.synthetic import render_scene

    return [render_scene(1234, i, size)[0] for i in range(n)]


def calib_probe(calib_set: Any, n: int = PROBE_FRAMES) -> np.ndarray:
    """The first ``n`` frames of a CalibrationSet as one preprocessed batch: what INT8 builds are
    compared with their source on (``compare_with_source(probe=...)``)."""
    frames: list[np.ndarray] = []
    for b in calib_set.batches():
        frames.extend(np.asarray(b))
        if len(frames) >= n:
            break
    return np.stack(frames[:n])


def compare_with_source(
    infer: Callable[[np.ndarray], np.ndarray],
    source: Path,
    card: ModelCard,
    *,
    precision: str,
    enforce: bool,
    what: str,
    threads: int | None = None,
    size: tuple[int, int] | None = None,
    probe: np.ndarray | None = None,
) -> dict[str, Any]:
    """The comparison every build runs: the probe frames through the ``source`` (an ONNX through ONNX
    Runtime, a checkpoint through PyTorch: the reference) and through ``infer`` (the artifact being
    built), at ``size`` (default: the source's fixed size, else the card's), judged by
    ``edgeseg.export.compare`` with the tolerance for ``precision``. ``enforce``: a failure is a
    BuildError saying nothing was written; otherwise the figures are only reported (the build changed
    the precision, or its numbers cannot be held to the source's here). ``probe``: a preprocessed
    batch to use instead of the synthetic scenes (default none; INT8 builds pass calibration frames:
    ranges calibrated on real data clip on synthetic scenes, which then disagree for no real reason).
    Returns ``Comparison.to_dict()`` plus ``enforced`` and ``probe`` (what was compared on)."""
    from edgeseg.backends import open_runner, spec_for
    from edgeseg.data.preprocess import preprocess
    from edgeseg.errors import BuildError
    from edgeseg.export.compare import compare, tolerance_for

    source = Path(source)
    with open_runner(source, **({"threads": threads} if threads is not None else {})) as ref_runner:
        hw = size or ref_runner.input_size or tuple(card.input_size)
        if probe is None:
            batch, probed = preprocess(probe_frames(hw), card, size=hw), f"{PROBE_FRAMES} synthetic scenes"
        else:
            batch, probed = np.ascontiguousarray(probe, dtype=np.float32), f"{len(probe)} calibration frames"
        ref = ref_runner.infer(batch)
    res = compare(ref, infer(batch), tolerance=tolerance_for(precision))
    if enforce and not res.passed:
        raise BuildError(
            f"the {what} does not match {spec_for(source).title} on {source.name}: {res.summary()}; "
            f"nothing written{_no_vnni_hint(precision)}"
        )
    return {**res.to_dict(), "enforced": enforce, "probe": probed}


def _no_vnni_hint(precision: str) -> str:
    """For an INT8 mismatch on an x86 CPU without VNNI: the CPU, not the build, may be the cause."""
    from edgeseg.quant.ort_cpu import cpu_has_vnni

    if precision != "int8" or cpu_has_vnni() is not False:
        return ""
    return (
        "; note: this x86 CPU has no VNNI, so int8 dot products run as int16 pairs that can saturate, "
        "and each runtime handles that differently (the same INT8 builds matched on CPUs with "
        "avx512_vnni / avx_vnni): build and compare INT8 on a CPU with VNNI"
    )
