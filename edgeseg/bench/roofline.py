"""This machine's peak: float32 matmul GFLOP/s and copy bandwidth, and a row's multiple of it.

The roofline multiple of a row is its mean latency divided by the time the model's FLOPs would
take at the measured matmul peak (compute-bound time). 1.0x would mean the model runs as fast as
a large dense float32 matmul; light, depthwise-heavy segmentation nets on CPU sit well above.
INT8 and FP16 rows are still compared with the float32 peak (stated in the report).
"""

from __future__ import annotations

import math
import time
from typing import Any


def measure_peak(
    *,
    threads: int | None = None,
    device: str = "cpu",
    matmul_n: int = 2048,
    copy_mb: int = 256,
    repeats: int = 5,
) -> dict[str, Any]:
    """Best-of-``repeats`` float32 ``matmul_n``-square matmul GFLOP/s and ``copy_mb`` MiB copy GB/s.

    Defaults: 2048x2048 matmul, 256 MiB copy (read + write counted), 5 repeats, torch's current
    thread count unless ``threads`` is given. Uses torch; run it in its own process.
    """
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    with torch.no_grad():
        a = torch.randn(matmul_n, matmul_n, device=dev)
        b = torch.randn(matmul_n, matmul_n, device=dev)
        torch.mm(a, b)  # warm-up: thread pool, allocator
        sync()
        best = math.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            torch.mm(a, b)
            sync()
            best = min(best, time.perf_counter() - t0)
        gflops = 2.0 * matmul_n**3 / best / 1e9
        del a, b
        n = copy_mb * 1024 * 1024 // 4
        src = torch.ones(n, device=dev)
        dst = torch.empty_like(src)
        dst.copy_(src)
        sync()
        best_c = math.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            dst.copy_(src)
            sync()
            best_c = min(best_c, time.perf_counter() - t0)
        gbs = 2.0 * n * 4 / best_c / 1e9
    return {
        "matmul_gflops": round(gflops, 2),
        "bandwidth_gbs": round(gbs, 2),
        "threads": torch.get_num_threads() if dev.type == "cpu" else None,
        "device": str(dev),
        "matmul_n": matmul_n,
        "copy_mb": copy_mb,
        "repeats": repeats,
    }


def compute_bound_ms(gflops: float | None, batch: int, peak_gflops: float | None) -> float | None:
    """Milliseconds ``batch`` images of ``gflops`` each take at ``peak_gflops`` GFLOP/s."""
    if not gflops or not peak_gflops or peak_gflops <= 0:
        return None
    return 1000.0 * gflops * batch / peak_gflops


def roofline_multiple(latency_ms: float | None, gflops: float | None, batch: int, peak_gflops: float | None) -> float | None:
    """Latency as a multiple of the compute-bound time (None when any input is missing)."""
    t = compute_bound_ms(gflops, batch, peak_gflops)
    if t is None or latency_ms is None or not math.isfinite(latency_ms):
        return None
    return latency_ms / t
