"""Timing helpers of ``benchmarks/cgnet_int8_cpu.py``: an in-memory OpenVINO runner, core pinning,
interleaved timing, kernel-time shares by precision and the median/IQR summary."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np


class Compiled:
    """An OpenVINO model compiled in memory (NNCF's output) as a Runner: card, input_size, infer."""

    backend = "openvino"

    def __init__(self, ov_model: Any, card: Any, *, threads: int, precision: str = "f32") -> None:
        from edgeseg.backends.openvino._core import shared_core
        from edgeseg.backends.openvino.build import compile_config

        cfg = compile_config(threads=threads, inference_precision=precision)
        self.card, self.compiled = card, shared_core().compile_model(ov_model, "CPU", cfg)
        self.request = self.compiled.create_infer_request()

    @property
    def input_size(self) -> tuple[int, int]:
        return tuple(self.card.input_size)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        self.request.infer({0: batch})
        return np.array(self.request.get_output_tensor(0).data)

    def close(self) -> None:
        self.request = self.compiled = None


def pin(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    try:
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:threads]))
    except (AttributeError, OSError):  # not Linux: the runtimes' thread settings still apply
        pass


def kernel_shares(xml: str, *, runs: int) -> dict[str, float]:
    """Shares of OpenVINO's kernel time by the precision each node ran in (its exec type's suffix:
    ``..._I8``/``u8`` int8, ``f32``, ``bf16``), from ``edgeseg profile``'s per-node times; "float" is
    f32 + bf16: the float share left."""
    from edgeseg.bench.profile_openvino import profile_openvino

    prof = profile_openvino(xml, runs=runs, warmup=2, top=100_000)
    total = sum(n.ms for n in prof.top_nodes) or 1.0
    out = {"int8": 0.0, "f32": 0.0, "bf16": 0.0, "other": 0.0}
    for n in prof.top_nodes:
        kind = n.op_type.rsplit("_", 1)[-1].lower()
        key = "int8" if kind in ("i8", "u8") else kind if kind in ("f32", "bf16") else "other"
        out[key] += n.ms / total
    out = {k: round(v, 4) for k, v in out.items()}
    return {**out, "float": round(out["f32"] + out["bf16"], 4)}


def time_interleaved(runners: dict[str, Any], x: np.ndarray, *, rounds: int, runs: int, warmup: int) -> dict:
    """{id: [ms per timed call]}: each round runs every variant ``runs`` times, order rotated per round."""
    ids = list(runners)
    times: dict[str, list[float]] = {k: [] for k in ids}
    for k in ids:
        for _ in range(warmup):
            runners[k].infer(x)
    for r in range(rounds):
        for k in ids[r % len(ids) :] + ids[: r % len(ids)]:
            run = runners[k]
            run.infer(x)  # one call to bring its weights back into the cache after the others ran
            for _ in range(runs):
                t0 = time.perf_counter()
                run.infer(x)
                times[k].append(1000.0 * (time.perf_counter() - t0))
    return times


def stats(ms: list[float]) -> dict[str, float]:
    q1, med, q3 = np.percentile(ms, [25, 50, 75])
    return {"median_ms": round(float(med), 3), "iqr_ms": round(float(q3 - q1), 3), "calls": len(ms)}


class Feed:
    """A runner that ignores the shared frame and always infers its own preprocessed one (same shape
    for every CGNet variant; another size for another model)."""

    def __init__(self, runner: Any, x: np.ndarray) -> None:
        self.runner, self.x = runner, x

    def infer(self, _: np.ndarray) -> np.ndarray:
        return self.runner.infer(self.x)
